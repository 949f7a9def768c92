/* SPDX-License-Identifier: Apache-2.0 */
/* A throwaway log key made for the fuzz corpora (make_seeds signs with it, the targets verify). */
#ifndef PASO_FUZZ_KEYS_H
#define PASO_FUZZ_KEYS_H

/* Generated once with checkpoint_keygen("paso/fuzz"); it protects nothing. */
#define FUZZ_LOG_SKEY "PRIVATE+KEY+paso/fuzz+a3343f06+AeaidoVUP8g72ZIT0JpzMGYJSKtX5ZZZZDiRPQO+XwTj"
#define FUZZ_LOG_VKEY "paso/fuzz+a3343f06+AVdEchx3N7wsoH50YaYw/ldr/A4rvvo7LjncSocahxJG"

#endif
