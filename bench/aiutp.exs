# The real aiutp (`../shared/aiutp`) across the namespace lab: unmodified
# against patched with examples/aiutp/plpmtud.patch (discovery on), on the
# six paths of test/plpmtud/aiutp_lab_test.exs, IPv4 (aiutp's lab harness
# speaks IPv4). Each repetition runs every transfer at once, the two builds
# side by side under the same load (aiutp's throughput is bounded by its
# window growth, about 50 kB/s in the lab, not by the CPU), each on a lab of
# its own. Root.
#
#   MIX_ENV=test mix run bench/aiutp.exs [--mb MB] [--reps R]
#
# Writes bench/results/aiutp.md: per path, each build's median time and
# completions, patched / unmodified, the PLPMTU at the end and window cuts.

alias PLPMTUD.Test.AiutpLab

{opts, _, _} = OptionParser.parse(System.argv(), strict: [mb: :float, reps: :integer])
bytes = round(Keyword.get(opts, :mb, 2.0) * 1_000_000)
reps = Keyword.get(opts, :reps, 3)
lab = Path.expand("scripts/lab")
max_ms = max(60_000, div(bytes, 20))
# Unmodified aiutp cannot cross the 1280 black hole: 30 s show it dies.
dead_ms = 30_000

# {name, variant, link MTUs, drop (ms after the client starts, new MTU), path MTU at the end}
paths = [
  {"1500 clean", "icmp", "1500,1500,1500", nil, 1500},
  {"1350, ICMP allowed", "icmp", "1500,1370,1350", nil, 1350},
  {"1350, black hole", "blackhole", "1500,1370,1350", nil, 1350},
  {"1280 path, black hole", "blackhole", "1500,1370,1280", nil, 1280},
  {"1350 -> 1280 at 5 s, black hole", "blackhole", "1500,1370,1350", {5_000, 1280}, 1280},
  {"1350 -> 1280 at 5 s, ICMP allowed", "icmp", "1500,1370,1350", {5_000, 1280}, 1280}
]

dir = Path.join(System.tmp_dir!(), "aiutp_bench_#{System.pid()}")
File.mkdir_p!(dir)
built = AiutpLab.build!(dir)

runs =
  for rep <- 1..reps do
    labs =
      for {{name, variant, mtus, drop, path_mtu}, i} <- Enum.with_index(paths),
          build <- [:ref, :pat] do
        prefix = "aib#{i}#{build}-#{System.pid()}"
        up = ["up", "--prefix", prefix, "--variant", variant, "--mtus", mtus]
        {_, 0} = System.cmd(lab, up, stderr_to_stdout: true)
        ns = %{prefix: prefix, client: prefix <> "-c", server: prefix <> "-s"}
        {name, build, ns, drop, path_mtu}
      end

    try do
      labs
      |> Task.async_stream(
        fn {name, build, ns, drop, path_mtu} ->
          limit = if build == :ref and name == "1280 path, black hole", do: dead_ms, else: max_ms
          {name, build, path_mtu, AiutpLab.transfer(ns, build, built, drop, bytes, limit)}
        end,
        timeout: max_ms + 30_000,
        max_concurrency: length(labs)
      )
      |> Enum.map(fn {:ok, r} -> r end)
      |> tap(fn results ->
        for {name, build, _, r} <- results,
            do:
              IO.puts(
                "rep #{rep} #{build} #{name}: completed=#{r.completed} ms=#{Map.get(r, :ms)}"
              )
      end)
    after
      for {_, _, ns, _, _} <- labs,
          do: System.cmd(lab, ["down", "--prefix", ns.prefix], stderr_to_stdout: true)
    end
  end
  |> List.flatten()

File.rm_rf!(dir)

median = fn
  [] -> nil
  xs -> xs |> Enum.sort() |> Enum.at(div(length(xs) - 1, 2))
end

seconds = fn
  nil -> "–"
  ms -> :erlang.float_to_binary(ms / 1000, decimals: 2) <> " s"
end

rows =
  for {name, _, _, _, path_mtu} <- paths do
    of = fn build -> for {^name, ^build, _, r} <- runs, do: r end
    done = fn rs -> for r <- rs, r.completed and Map.get(r, :identical, false), do: r.ms end
    {ref, pat} = {of.(:ref), of.(:pat)}
    {ref_ms, pat_ms} = {median.(done.(ref)), median.(done.(pat))}

    ratio =
      if ref_ms && pat_ms,
        do: :erlang.float_to_binary(pat_ms / ref_ms, decimals: 2) <> "x",
        else: "–"

    mtus =
      pat
      |> Enum.map(&Map.get(&1, :mtu))
      |> Enum.reject(&is_nil/1)
      |> Enum.uniq()
      |> Enum.join(", ")

    above = Enum.count(pat, &(is_integer(Map.get(&1, :mtu)) and &1.mtu > path_mtu))

    cuts =
      pat |> Enum.map(&(Map.get(&1, :counters) || %{})) |> Enum.map(&Map.get(&1, :window_cuts, 0))

    "| #{name} | #{length(done.(ref))}/#{length(ref)}, #{seconds.(ref_ms)} | " <>
      "#{length(done.(pat))}/#{length(pat)}, #{seconds.(pat_ms)} | #{ratio} | #{mtus} (#{path_mtu}); above: #{above} | #{Enum.join(cuts, ", ")} |"
  end

File.write!("bench/results/aiutp.md", """
# aiutp on the namespace lab: unmodified against patched with plpmtud

- command: `MIX_ENV=test mix run bench/aiutp.exs --mb #{bytes / 1_000_000} --reps #{reps}` (root)
- each repetition: every path, both builds, all transfers at once (each on its own lab); #{bytes} bytes each, IPv4; a run that did not complete in #{div(max_ms, 1000)} s counts as not completed
- machine: #{:erlang.system_info(:system_architecture)}, #{System.schedulers_online()} schedulers
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}

| path | unmodified: completed, median time | patched: completed, median time | patched / unmodified | patched PLPMTU at the end (path MTU) | patched window cuts per run |
|---|---|---|---|---|---|
#{Enum.join(rows, "\n")}
""")

IO.puts("wrote bench/results/aiutp.md")
