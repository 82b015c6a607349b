# Shared by the benchmarks that fetch images: source with `. Benchmarks/images/lib.sh` from the repo root.

# A venv with Pillow (for make_images.py and the Python baselines), made on first use.
images_venv=Benchmarks/images/.venv
ensure_images_venv() {
    if [ ! -x "$images_venv/bin/python" ]; then
        python3 -m venv "$images_venv"
        "$images_venv/bin/pip" install --quiet pillow==13.0.0 numpy
    fi
}

# make_bench_images N DIR: N distinct JPEGs (crops, flips, colour jitter of the golden samples, 400-1000 px).
make_bench_images() {
    local count="$1" dir="$2"
    ensure_images_venv
    if [ "$(find "$dir" -name '*.jpg' 2>/dev/null | wc -l)" -ne "$count" ]; then
        rm -rf "$dir"
        "$images_venv/bin/python" Benchmarks/images/make_images.py --src Tests/Fixtures/golden/images --out "$dir" --n "$count" >&2
    fi
}

# start_nginx DIR: serves DIR on 127.0.0.1 (Debian's nginx, installed if missing); sets nginx_port and
# nginx_root (its scratch directory). stop_nginx ends it.
start_nginx() {
    command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; } >&2
    nginx_root="$(mktemp -d)"
    nginx_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat >"$nginx_root/nginx.conf" <<CONF
worker_processes 1;
pid $nginx_root/nginx.pid;
error_log $nginx_root/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $nginx_root;
    proxy_temp_path $nginx_root;
    fastcgi_temp_path $nginx_root;
    uwsgi_temp_path $nginx_root;
    scgi_temp_path $nginx_root;
    types { image/jpeg jpg; }
    server { listen 127.0.0.1:$nginx_port; root $(realpath "$1"); }
}
CONF
    nginx -c "$nginx_root/nginx.conf" -e "$nginx_root/error.log"
    for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/" 2>/dev/null && break; [ -f "$nginx_root/nginx.pid" ] && break; sleep 0.1; done
}

stop_nginx() {
    [ -n "${nginx_root:-}" ] && [ -f "$nginx_root/nginx.pid" ] && kill "$(cat "$nginx_root/nginx.pid")" 2>/dev/null || true
}

# bench_urls COUNT FILE: the URLs of the COUNT images nginx serves, one per line.
bench_urls() {
    for i in $(seq 0 $(($1 - 1))); do printf 'http://127.0.0.1:%s/%05d.jpg\n' "$nginx_port" "$i"; done >"$2"
}

# serve_bench_images COUNT: makes COUNT images (once), serves them with nginx and sets `work` to a scratch
# directory holding their URLs in urls.txt; both are cleaned up when the script exits.
serve_bench_images() {
    make_bench_images "$1" Benchmarks/images/www
    start_nginx Benchmarks/images/www
    work="$(mktemp -d)"
    trap 'stop_nginx; rm -rf "$work"' EXIT
    bench_urls "$1" "$work/urls.txt"
}
