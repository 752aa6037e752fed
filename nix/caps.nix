# The caps file (nix/caps.json) turned into systemd values, with builtins only.
#
# No nixpkgs `lib` here on purpose: the offline checks (tests/nix/check.sh) evaluate
# this file with a bare `nix-instantiate --eval` and feed its output to
# `systemd-analyze verify`, so the strings the NixOS module uses are the strings
# that get verified. systemd silently ignores a malformed cap (`MemoryMax=90MB`,
# `CPUQuota=45`), so the format is fixed here, in one place.
#
# Usage: `import ./caps.nix (builtins.fromJSON (builtins.readFile ./caps.json))`.
caps:
let
  inherit (builtins) attrNames attrValues concatLists foldl' isInt map mapAttrs;

  # CPUQuota is a percentage of one CPU: 250 millicores = "25%". Refuse values that
  # would need a fraction, rather than silently rounding a cap away.
  cpuQuota = name: millicores:
    let pct = millicores / 10; in
    if pct * 10 != millicores
    then throw "caps.json: ${name}.cpu_millicores = ${toString millicores} is not a multiple of 10"
    else if millicores <= 0
    then throw "caps.json: ${name}.cpu_millicores must be positive"
    else "${toString pct}%";

  # MemoryMax takes base-1024 suffixes: "30M" is 30 MiB, the unit of the caps file.
  memoryMax = name: mib:
    if mib <= 0
    then throw "caps.json: ${name}.memory_mib must be positive"
    else "${toString mib}M";

  # CPUWeight (1..10000, systemd's default 100): the share under contention, so the request
  # path runs first when background work competes for the CPUs.
  cpuWeight = name: w:
    if !(isInt w) || w < 1 || w > 10000
    then throw "caps.json: ${name}.cpu_weight = ${toString w} is not in 1..10000"
    else toString w;

  unitCaps = name: c: {
    CPUQuota = cpuQuota name c.cpu_millicores;
    CPUWeight = cpuWeight name (c.cpu_weight or 100);
    MemoryMax = memoryMax name c.memory_mib;
    # No swap: a capped service that swaps is slower than one that is killed and restarted.
    MemorySwapMax = "0";
  };

  sum = field: foldl' (acc: c: acc + c.${field}) 0 (attrValues caps.services);

  total = {
    cpu_millicores = sum "cpu_millicores";
    memory_mib = sum "memory_mib";
  };

  # The budget rule, the same as tests/stack/caps.py's `violations` (the reference;
  # tests/nix/caps-drift.py compares the two on caps.json and on broken variants): every
  # entry positive and in whole percent of a CPU, every entry summed (the oneshot migrate
  # included, as a judge adding up the compose limits would) within the budget, the budget
  # within the contest's 1.5 CPU / 350 MB, Redis' maxmemory below its cap.
  contest = { cpu_millicores = 1500; memory_mib = 350; };
  required = [ "nginx" "api1" "api2" "worker" "redis" "postgres" "migrate" ];
  when = cond: code: if cond then [ code ] else [ ];
  isPositive = v: isInt v && v > 0;
  perService = name:
    let c = caps.services.${name}; in
    when (!(isPositive (c.cpu_millicores or null) && isPositive (c.memory_mib or null))) "not_positive:${name}"
    ++ when (isInt (c.cpu_millicores or null) && c.cpu_millicores / 10 * 10 != c.cpu_millicores)
      "cpu_not_multiple_of_10:${name}"
    ++ when (!(isPositive (c.cpu_weight or 100) && (c.cpu_weight or 100) <= 10000))
      "cpu_weight_out_of_range:${name}";
  redisMax = caps.services.redis.maxmemory_mib or 0;

  violations =
    concatLists (map perService (attrNames caps.services))
    ++ concatLists (map (n: when (!(caps.services ? ${n})) "missing:${n}") required)
    ++ when (total.cpu_millicores > caps.budget.cpu_millicores) "cpu_over_budget"
    ++ when (total.memory_mib > caps.budget.memory_mib) "memory_over_budget"
    ++ when
      (caps.budget.cpu_millicores > contest.cpu_millicores || caps.budget.memory_mib > contest.memory_mib)
      "budget_over_contest"
    ++ when (!(redisMax > 0 && redisMax < (caps.services.redis.memory_mib or 0))) "redis_maxmemory_not_below_cap";
in
{
  inherit total;
  inherit (caps) budget;

  names = attrNames caps.services;

  # Per service: { CPUQuota; CPUWeight; MemoryMax; MemorySwapMax; } for `serviceConfig`.
  units = mapAttrs unitCaps caps.services;

  # The slice every service of the stack runs in: the whole budget, as one group cap.
  slice = unitCaps "budget" caps.budget;

  # Budget-rule codes broken by this caps file ([ ] when it is fine).
  inherit violations;
  withinBudget = violations == [ ];

  # Redis `maxmemory` (its "mb" is MiB); kept below the container/unit cap so AOF
  # rewrites and client buffers fit under it.
  redisMaxmemory = "${toString caps.services.redis.maxmemory_mib}mb";
}
