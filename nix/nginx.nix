# nginx configuration for the Nix deployments, rendered from nginx/nginx.conf.template: the
# same file the native stack (tests/stack/services.py) fills in, so an edit of the template
# reaches every deployment. Builtins only, so the offline checks render it too
# (tests/nix/drift.py compares it line by line with the native rendering; check.sh runs
# `nginx -t` on it).
#
# What differs from the native rendering, and only this:
#   * the upstream servers: the template's two unix sockets become `upstreams`;
#   * @RUN_DIR@ (pid and temp paths) becomes `runDir`; @USER_DIRECTIVE@ is dropped (the
#     image runs as an unprivileged user, the NixOS unit as nginx);
#   * errors go to stderr instead of a file in the run dir;
#   * `listen 9999` becomes `listenPort`;
#   * `module` (for `services.nginx.config`) also leaves out the pid, error_log and daemon
#     lines, which the NixOS module writes itself.
#
# Returns { full; module; }: `full` is a whole nginx.conf for the OCI image.
{
  # upstream servers, e.g. [ "unix:/run/rinha/api1.sock" ] or [ "api1:8080" ]
  upstreams
, runDir
, listenPort ? 9999
}:
let
  inherit (builtins) concatStringsSep filter head isString map match readFile replaceStrings split toString;

  template = readFile ../nginx/nginx.conf.template;

  # The servers' parameters (max_fails, fail_timeout, ...) are the template's, for every upstream.
  serverParams =
    let found = match ".*server unix:@RUN_DIR@/api1[.]sock([^;]*);.*" (replaceStrings [ "\n" ] [ " " ] template);
    in if found == null
    then throw "nginx/nginx.conf.template: its upstream servers changed; update nix/nginx.nix"
    else head found;
  nativeServers = ''
    server unix:@RUN_DIR@/api1.sock${serverParams};
    server unix:@RUN_DIR@/api2.sock${serverParams};
  '';
  # The template indents the servers by eight spaces.
  indent = text: concatStringsSep "\n" (map (l: if l == "" then l else "        " + l)
    (filter isString (split "\n" text)));
  servers = concatStringsSep "" (map (s: "server ${s}${serverParams};\n") upstreams);

  full =
    if replaceStrings [ (indent nativeServers) ] [ "" ] template == template
    then throw "nginx/nginx.conf.template: its upstream servers changed; update nix/nginx.nix"
    else
      replaceStrings
        [ (indent nativeServers) "@USER_DIRECTIVE@\n" "error_log @RUN_DIR@/logs/nginx-error.log" "listen 9999 " "@RUN_DIR@" ]
        [ (indent servers) "" "error_log stderr" "listen ${toString listenPort} " runDir ]
        template;

  ownedByNixos = line: match "[[:space:]]*(pid|error_log|daemon)[[:space:]].*" line != null;
  module = concatStringsSep "\n" (filter (l: isString l && !(ownedByNixos l)) (split "\n" full));
in
if match ".*@[A-Z_]+@.*" (replaceStrings [ "\n" ] [ " " ] full) != null
then throw "nginx/nginx.conf.template has a placeholder nix/nginx.nix does not fill"
else { inherit full module; }
