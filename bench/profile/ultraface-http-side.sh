#!/usr/bin/env bash
# The HTTP side of UltraFace at 8 clients (issue #13), per thread group: user and system CPU and voluntary /
# non-voluntary context switches per inference from /proc/<pid>/task/*/{stat,status} (a sched_yield that switches counts
# as non-voluntary, so spinning thread-pool workers show there), and optionally system calls per inference (perf stat)
# or a perf profile. Server from the Release benchmark build, 8 keep-alive curl loops.
#   bench/Maas.Bench: dotnet build -c Release; then: WARM=35 SECS=12 PERF=stat bash bench/profile/ultraface-http-side.sh
#   PERF=1 records perf.data (add PERFMAP=1 EXTRA_ENV=DOTNET_EnableWriteXorExecute=0 for managed symbols);
#   EXTRA_ENV='Maas__Inference__HttpReceiveBlockBytes=65536' (or DOTNET_... runtime knobs) sets the server's environment.
set -u
BENCH=${BENCH:-$(cd "$(dirname "$0")/.." && pwd)/Maas.Bench/bin/Release/net10.0/Maas.Bench.dll}
MODEL=${MODEL:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/models/ultraface-rfb-320.onnx}
cd "$(mktemp -d)"
KEY=bench-0123456789abcdef0123456789abcdef
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DATA=$(mktemp -d)
mkfifo stdin.fifo
( sleep 900 > stdin.fifo ) & HOLD=$!
env DOTNET_PerfMapEnabled=${PERFMAP:-0} ${EXTRA_ENV:-} dotnet $BENCH serve --urls http://127.0.0.1:$PORT --Maas:DataDir=$DATA --Maas:Inference:GrpcUrl= --Maas:Inference:Demo=false --Logging:LogLevel:Default=Warning --Maas:Auth:AdminKey=$KEY < stdin.fifo > server.log 2>&1 &
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
sleep ${WARM:-40}
count() { curl -s -H "$H" $U/v2/models/ultraface/stats | python3 -c 'import json,sys;print(json.load(sys.stdin)["model_stats"][0]["inference_count"])'; }
snap() { for t in /proc/$SERVER/task/*; do echo "$(basename $t) $(sed 's/.*) //' $t/stat 2>/dev/null | awk '{print $12, $13}') $(awk '/^voluntary_ctxt/{v=$2}/^nonvoluntary_ctxt/{n=$2}END{print v, n}' $t/status 2>/dev/null) $(tr ' ' '_' < $t/comm)"; done; }
C0=$(count); snap > s0
case "${PERF:-0}" in
 1) perf record -F 499 -g -o perf.data -p $SERVER -- sleep ${SECS:-10} 2> perf.err >/dev/null ;;
 stat) perf stat -e 'syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvmsg,syscalls:sys_enter_sched_yield,context-switches' -p $SERVER -o pstat.txt -- sleep ${SECS:-10} >/dev/null 2>&1 ;;
 *) sleep ${SECS:-10} ;;
esac
C1=$(count); snap > s1
python3 - "$((C1-C0))" <<'PY'
import sys,collections,re
n=max(1,int(sys.argv[1]))
def rd(f):
    d={}
    for l in open(f):
        p=l.split()
        if len(p)==6: d[p[0]]=(int(p[1]),int(p[2]),int(p[3]),int(p[4]),p[5])
    return d
a,b=rd("s0"),rd("s1")
g=collections.defaultdict(lambda:[0,0,0,0,0])
for t,v in b.items():
    o=a.get(t,(0,0,0,0,v[4]))
    name=v[4]
    key=re.sub(r'_?\d+$','',name) if not name.startswith('maas-') else 'maas-worker'
    if name.startswith('onnx'): key='onnx'
    r=g[key]
    for i in range(4): r[i]+=v[i]-o[i]
    r[4]+=1
print(f"inferences {n}")
print(f"{'group':<22}{'user ms/inf':>12}{'sys ms/inf':>12}{'vcsw/inf':>10}{'nvcsw/inf':>10}{'threads':>8}")
tot=[0,0,0,0]
for k,r in sorted(g.items(),key=lambda kv:-(kv[1][0]+kv[1][1])):
    if r[0]+r[1]+r[2]==0: continue
    print(f"{k:<22}{r[0]*10/n:12.3f}{r[1]*10/n:12.3f}{r[2]/n:10.2f}{r[3]/n:10.2f}{r[4]:8d}")
PY
[ -f pstat.txt ] && awk -v n=$((C1-C0)) '/syscalls|context/{gsub(",","",$1); printf "%-40s %10.1f per inference\n", $2, $1/n}' pstat.txt
for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done
kill $HOLD 2>/dev/null; wait $SERVER 2>/dev/null
echo "dir $PWD"
rm -rf $DATA stdin.fifo
