# nginx configuration for the Nix deployments (NixOS module and OCI image), builtins only
# so the offline checks can render it and run `nginx -t` on it.
#
# It mirrors the native stack's nginx/nginx.conf.template (same directives and values):
# listen 9999, the API instances behind one keepalive upstream, no response buffering,
# a 4 KiB body limit answered with the API's JSON 413, and the arrival time passed to the API as X-Arrival-Time
# ($msec: seconds.millis), which the API measures its enqueue deadline from.
#
# Returns { http; events; main; full; }: `http` goes inside `http { }` (the NixOS module
# appends it to the http block nixpkgs writes), `full` is a whole nginx.conf for a
# container running nginx as an unprivileged user.
{
  # upstream servers, e.g. [ "unix:/run/rinha/api1.sock" ] or [ "api1:8080" ]
  upstreams
, listenPort ? 9999
, workerConnections ? 8192
, tmpDir ? "/tmp"
}:
let
  inherit (builtins) concatStringsSep map toString;

  servers = concatStringsSep "\n" (map (s: "    server ${s} max_fails=0;") upstreams);

  http = ''
    upstream rinha_api {
    ${servers}
        keepalive 512;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }

    server {
        listen ${toString listenPort} backlog=4096;
        server_tokens off;
        access_log off;
        keepalive_requests 1000000;
        keepalive_timeout 65s;

        client_max_body_size 4k;
        client_body_buffer_size 8k;
        error_page 413 = @payload_too_large;

        location / {
            proxy_pass http://rinha_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Arrival-Time $msec;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }

        location @payload_too_large {
            default_type application/json;
            return 413 '{"error":"payload_too_large","message":"request body larger than 4096 bytes"}\n';
        }
    }
  '';

  events = ''
    worker_connections ${toString workerConnections};
    multi_accept on;
  '';

  main = ''
    worker_rlimit_nofile ${toString (workerConnections * 2)};
  '';

  full = ''
    worker_processes 1;
    ${main}
    pid ${tmpDir}/nginx.pid;
    error_log stderr warn;
    daemon off;

    events {
    ${events}
    }

    http {
        client_body_temp_path ${tmpDir}/nginx-client-body;
        proxy_temp_path ${tmpDir}/nginx-proxy;
        fastcgi_temp_path ${tmpDir}/nginx-fastcgi;
        uwsgi_temp_path ${tmpDir}/nginx-uwsgi;
        scgi_temp_path ${tmpDir}/nginx-scgi;
        default_type application/octet-stream;
        tcp_nodelay on;

    ${http}
    }
  '';
in
{
  inherit http events main full;
}
