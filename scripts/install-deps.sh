#!/usr/bin/env bash
# Installs what building and testing xceptor needs on Debian 12, and nothing when it is already there.
# Safe to run again and again; it runs apt-get only for packages that are missing.
set -euo pipefail

# Debian packages: the C libraries the Swift targets link, and the tools the scripts use.
# chromium and chromium-driver: the search page's test drives a real browser (headless) through chromedriver.
# postgresql: the PostgreSQL driver's tests start a private server (initdb + pg_ctl in a temporary directory).
# libjpeg-turbo-progs, webp, netpbm: cjpeg, cwebp and pnmtopng write the hostile images of the memory test and benchmark.
# tinyproxy: the proxy the tests of --proxy fetch through.
packages=(libsqlite3-dev sqlite3 libhdf5-dev libdnnl-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libssl-dev libcurl4-openssl-dev pkg-config python3 python3-pip python3-venv curl unzip ca-certificates chromium chromium-driver postgresql libjpeg-turbo-progs webp netpbm tinyproxy)

if ! command -v swift >/dev/null 2>&1; then
    echo "error: swift is not on PATH. Install Swift 6 (https://www.swift.org/install/linux/) and run this again." >&2
    exit 1
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
