#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages Paso needs, only those that are missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libssl-dev openssl libsodium-dev liblmdb-dev lmdb-utils
      libprotobuf-c-dev protobuf-c-compiler libcmocka-dev libyaml-dev
      golang-go golang-golang-x-mod-dev)  # Go: only for the x/mod tlog interop test
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "paso: installing missing packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
