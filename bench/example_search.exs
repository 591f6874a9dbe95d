# Search time of the uTP-shaped example transport (probes are padded data
# packets), probe_sizes 1 against 4, IPv4 and IPv6, on three lab paths
# (client -> r1 -> r2 -> server): clean 1500, the 1350 black hole (routers
# drop ICMP) and the mismatched link (r2 sends 1500 into a 1350 link: the
# path carries 1354, ICMP allowed but never sent); R fresh labs each, 2 MB
# each. Root.
#
#   MIX_ENV=test mix run bench/example_search.exs [--reps R]
#
# Writes bench/results/example_search.md.

{opts, _, _} = OptionParser.parse(System.argv(), strict: [reps: :integer])
reps = Keyword.get(opts, :reps, 5)
lab = Path.expand("scripts/lab")
servers = %{inet: {10, 71, 3, 2}, inet6: {0xFD71, 3, 0, 0, 0, 0, 0, 2}}

paths = [
  {"1500 clean", ["--variant", "icmp", "--mtus", "1500,1500,1500"], 1500},
  {"1350 black hole", ["--variant", "blackhole", "--mtus", "1500,1370,1350"], 1350},
  {"mismatched link", ["--variant", "mismatch", "--mtus", "1500,1370,1350"], 1354}
]

overhead = %{inet: 48, inet6: 68}

runs =
  for rep <- 1..reps, {path, args, _} <- paths, family <- [:inet, :inet6], k <- [1, 4] do
    prefix = "exs-#{System.pid()}"
    up = ["up", "--prefix", prefix | args]
    {_, 0} = System.cmd(lab, up, stderr_to_stdout: true)

    try do
      r =
        :plpmtud_example_utp.run(%{
          server_ip: servers[family],
          client_netns: prefix <> "-c",
          server_netns: prefix <> "-s",
          bytes: 2_000_000,
          sizing: :plpmtud,
          probe_sizes: k,
          max_ms: 20_000
        })

      IO.puts(
        "#{path} #{family} probe_sizes #{k} run #{rep}: #{inspect(r.search_complete_ms)} ms, payload #{r.payload_at_end}"
      )

      {path, family, k, r}
    after
      System.cmd(lab, ["down", "--prefix", prefix], stderr_to_stdout: true)
    end
  end

median = fn xs -> xs |> Enum.sort() |> Enum.at(div(length(xs), 2)) end

rows =
  for {path, _, mtu} <- paths, family <- [:inet, :inet6], k <- [1, 4] do
    rs = for {^path, ^family, ^k, r} <- runs, do: r
    ms = for r <- rs, is_integer(r.search_complete_ms), do: r.search_complete_ms
    payloads = rs |> Enum.map(& &1.payload_at_end) |> Enum.uniq() |> Enum.join(", ")
    probes = rs |> Enum.map(& &1.probes) |> median.()

    "| #{path} | #{family} | #{mtu - overhead[family]} | #{k} | #{median.(ms)} ms | #{Enum.join(ms, ", ")} | #{payloads} | #{probes} |"
  end

{:ok, vsn} = :application.get_key(:plpmtud, :vsn)

File.write!("bench/results/example_search.md", """
# The example transport's first search on the lab's paths: probe_sizes 1 and 4

- command: `MIX_ENV=test mix run bench/example_search.exs --reps #{reps}` (root)
- paths: clean (1500 links), black hole (1500 -> 1370 -> 1350, routers drop ICMP), mismatched link (r2 sends 1500 into the 1350 link; it carries 1354)
- transport: `plpmtud_example_utp` (probes are padded data packets, 3 copies a size, 2-byte search), 2 MB, a fresh lab each run
- machine: #{:erlang.system_info(:system_architecture)}, #{System.schedulers_online()} schedulers, plpmtud #{vsn}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}

| path | family | true payload | probe_sizes | search complete (median) | each run | payload at the end | probes (median) |
|---|---|---|---|---|---|---|---|
#{Enum.join(rows, "\n")}
""")

IO.puts("wrote bench/results/example_search.md")
