// Calls llama_model_quantize once, exactly as llama-quantize does (default parameters, a file type and a thread
// count), but linked against whichever libllama it is built with: used to tell the library MaaS loads (the
// node-llama-cpp prebuilt) from MaaS's own code around it. Same arguments as llama-quantize for the types below.
//
//   cc -O2 -o quantize-probe bench/llama-server/quantize-probe.c -I<llama src>/include -I<llama src>/ggml/include \
//      -L<prebuilt dir> -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -Wl,-rpath,<prebuilt dir>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-backend.h"
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * user) {
    (void) level; (void) text; (void) user;
}

int main(int argc, char ** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s input.gguf output.gguf Q8_0|Q6_K|Q4_K_M|Q4_0 threads\n", argv[0]);
        return 2;
    }

    // The file type numbers of llama.h's enum llama_ftype.
    const char * names[] = { "Q8_0", "Q6_K", "Q4_K_M", "Q4_0" };
    const enum llama_ftype types[] = { LLAMA_FTYPE_MOSTLY_Q8_0, LLAMA_FTYPE_MOSTLY_Q6_K, LLAMA_FTYPE_MOSTLY_Q4_K_M, LLAMA_FTYPE_MOSTLY_Q4_0 };
    int type = -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(argv[3], names[i]) == 0) {
            type = i;
        }
    }

    if (type < 0) {
        fprintf(stderr, "unknown type %s\n", argv[3]);
        return 2;
    }

    llama_log_set(quiet, NULL);
    const char * dir = getenv("PROBE_BACKENDS");
    if (dir != NULL) {
        ggml_backend_load_all_from_path(dir);
    }

    llama_backend_init();
    struct llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = types[type];
    params.nthread = atoi(argv[4]);
    const uint32_t status = llama_model_quantize(argv[1], argv[2], &params);
    llama_backend_free();
    return status == 0 ? 0 : 1;
}
