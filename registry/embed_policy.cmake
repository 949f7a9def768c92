# SPDX-License-Identifier: Apache-2.0
# Embeds a policy file as a C string: cmake -DIN=policy.yaml -DOUT=file.c -P embed_policy.cmake
file(READ "${IN}" hex HEX)
file(SIZE "${IN}" size)
string(LENGTH "${hex}" hexlen)
set(body "")
set(pos 0)
# 16 bytes a line; every byte becomes \xNN, so no hex escape can swallow the next character.
while(pos LESS hexlen)
  string(SUBSTRING "${hex}" ${pos} 32 chunk)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" chunk "${chunk}")
  string(APPEND body "\t\"${chunk}\"\n")
  math(EXPR pos "${pos} + 32")
endwhile()
if(body STREQUAL "")
  set(body "\t\"\"\n")
endif()
get_filename_component(name "${IN}" NAME)
file(WRITE "${OUT}.tmp"
"/* Generated at build time from policies/${name} by registry/embed_policy.cmake. */\n"
"#include \"policy.h\"\n\n"
"const char policy_default_yaml[] =\n${body};\n"
"const size_t policy_default_yaml_len = ${size};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
