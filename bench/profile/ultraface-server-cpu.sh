#!/usr/bin/env bash
# Where the server's CPU goes for UltraFace at 8 clients (REST binary, 1 instance x 2 threads): starts the server
# from the Release benchmark build in its "serve" mode, drives it with 8 keep-alive curl loops, then measures
# user/system CPU per inference from /proc and samples the server with perf (user and kernel, per thread and DSO).
#   bench/Maas.Bench: dotnet build -c Release; then: WARM=70 SECS=12 bash bench/profile/ultraface-server-cpu.sh
#   perf report -i perf.data --no-children --sort pid,dso --stdio -g none
# WARM (s) should be long enough for the JIT's tiering to settle; PERF=0 skips the sampling.
set -u
BENCH=$(cd "$(dirname "$0")/.." && pwd)/Maas.Bench/bin/Release/net10.0/Maas.Bench.dll
MODEL=${MODEL:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/models/ultraface-rfb-320.onnx}
cd "$(mktemp -d)"
echo "working in $PWD"
KEY=bench-0123456789abcdef0123456789abcdef
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DATA=$(mktemp -d)
rm -f stdin.fifo; mkfifo stdin.fifo
( sleep 600 > stdin.fifo ) & HOLD=$!
env DOTNET_PerfMapEnabled=1 ${EXTRA_ENV:-} dotnet $BENCH serve --urls http://127.0.0.1:$PORT --Maas:DataDir=$DATA --Maas:Inference:GrpcUrl= --Maas:Inference:Demo=false --Logging:LogLevel:Default=Warning --Maas:Auth:AdminKey=$KEY < stdin.fifo > server.log 2>&1 &
SERVER=$!
for i in $(seq 1 120); do grep -q READY server.log && break; sleep 0.5; done
H="Authorization: Bearer $KEY"; U=http://127.0.0.1:$PORT
curl -s -H "$H" $U/api/v1/models -H 'Content-Type: application/json' -d '{"name":"ultraface"}' >/dev/null
curl -s -X PUT -H "$H" $U/api/v1/models/ultraface/config -H 'Content-Type: application/json' -d '{"instance_count":1,"threads":2}' >/dev/null
curl -s -H "$H" $U/api/v1/models/ultraface/versions -H 'Content-Type: application/octet-stream' -H 'X-Maas-Filename: u.onnx' --data-binary @$MODEL >/dev/null
curl -s -X POST -H "$H" $U/v2/repository/models/ultraface/load >/dev/null
python3 - <<'PY'
import json,struct
h=json.dumps({"inputs":[{"name":"input","shape":[1,3,240,320],"datatype":"FP32","parameters":{"binary_data_size":921600}}],"parameters":{"binary_data_output":True}}).encode()
open("hlen","w").write(str(len(h)))
vals=[((i*7919%255)-127)/128 for i in range(3*240*320)]
open("body","wb").write(h+struct.pack("<%df"%len(vals),*vals))
PY
HL=$(cat hlen)
URLS=$(for i in $(seq 1 400); do echo -n "$U/v2/models/ultraface/infer "; done)
PIDS=()
for c in $(seq 1 8); do
  ( while kill -0 $SERVER 2>/dev/null; do curl -s -o /dev/null -H "$H" -H "Inference-Header-Content-Length: $HL" -H 'Content-Type: application/octet-stream' --data-binary @body $URLS >/dev/null 2>&1 || break; done ) &
  PIDS+=($!)
done
sleep ${WARM:-8}
count() { curl -s -H "$H" $U/v2/models/ultraface/stats | python3 -c 'import json,sys;print(json.load(sys.stdin)["model_stats"][0]["inference_count"])'; }
stat() { awk '{print $14, $15}' /proc/$SERVER_PID/stat; }
SERVER_PID=$SERVER
threads() { for t in /proc/$SERVER/task/*; do echo "$(basename $t) $(awk '{print $14+$15}' $t/stat 2>/dev/null) $(tr ' ' '_' < $t/comm)"; done; }
C0=$(count); read U0 S0 < <(stat); threads > threads0
if [ "${PERF:-1}" = 1 ]; then perf record -F 499 -g -o perf.data -p $SERVER -- sleep ${SECS:-10} 2> perf.err >/dev/null; else sleep ${SECS:-10}; fi
C1=$(count); read U1 S1 < <(stat); threads > threads1
echo "inferences $((C1-C0)) user_ms $(( (U1-U0)*10 )) sys_ms $(( (S1-S0)*10 )) per_inference_ms_user $(python3 -c "print(round(($U1-$U0)*10/max(1,$C1-$C0),3))") per_inference_ms_sys $(python3 -c "print(round(($S1-$S0)*10/max(1,$C1-$C0),3))") threads $(ls /proc/$SERVER/task | wc -l)"
# Per thread: CPU ms per inference over the window (ticks of 10 ms), largest first; ORT's own threads carry the name
# of the thread that opened the session.
python3 - "$((C1-C0))" <<'PY'
import sys
n=max(1,int(sys.argv[1]))
a={l.split()[0]:(int(l.split()[1]),l.split()[2]) for l in open("threads0") if len(l.split())==3}
b={l.split()[0]:(int(l.split()[1]),l.split()[2]) for l in open("threads1") if len(l.split())==3}
rows=sorted(((b[t][0]-a.get(t,(0,))[0],t,b[t][1]) for t in b),reverse=True)
total=sum(r[0] for r in rows)
for d,t,c in rows:
    if d>0: print(f"thread {t:>8} {c:<20} {d*10/n:7.3f} ms/inference {100*d/max(1,total):5.1f}%")
PY
for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done
kill $HOLD 2>/dev/null; wait $SERVER 2>/dev/null
rm -rf $DATA stdin.fifo
