# The real aiutp (`../shared/aiutp`) across the namespace lab: unmodified
# against patched with examples/aiutp/plpmtud.patch (discovery on), on the
# six paths of test/plpmtud/aiutp_lab_test.exs, IPv4 (aiutp speaks IPv4
# only). Root.
#
#   MIX_ENV=test mix run bench/aiutp.exs [--mb MB] [--reps R]
#                                        [--fast-mb MB] [--fast-reps R]
#
# Two tables:
#
# 1. aiutp as it is (default 20 MB, 3 repetitions). The fixture sends
#    queued data only every 500 ms while its owner reads in active mode
#    (examples/aiutp/window.patch says why), so a transfer is a chain of
#    timer ticks, not CPU work: each repetition runs every transfer at once,
#    the two builds side by side, each on a lab of its own.
# 2. Both builds with aiutp's send fix (examples/aiutp/window.patch; default
#    50 MB, 7 repetitions). Now a transfer is CPU-bound: one transfer at a
#    time, the two builds interleaved path by path (their order swapped
#    every repetition).
#
# Writes bench/results/aiutp.md: per path, each build's completions and
# median time, patched / unmodified, the PLPMTU at the end against the
# path MTU, and window cuts.

alias PLPMTUD.Test.AiutpLab

{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [mb: :float, reps: :integer, fast_mb: :float, fast_reps: :integer]
  )

lab = Path.expand("scripts/lab")

# {name, variant, link MTUs, MTU drop or nil, path MTU at the end}
paths = [
  {"1500 clean", "icmp", "1500,1500,1500", nil, 1500},
  {"1350, ICMP allowed", "icmp", "1500,1370,1350", nil, 1350},
  {"1350, black hole", "blackhole", "1500,1370,1350", nil, 1350},
  {"1280 path, black hole", "blackhole", "1500,1370,1280", nil, 1280},
  {"1350 -> 1280 mid-transfer, black hole", "blackhole", "1500,1370,1350", 1280, 1280},
  {"1350 -> 1280 mid-transfer, ICMP allowed", "icmp", "1500,1370,1350", 1280, 1280}
]

modes = [
  %{
    title: "aiutp as it is (the fixture's 500 ms send timer)",
    builds: {:ref, :pat},
    bytes: round(Keyword.get(opts, :mb, 20.0) * 1_000_000),
    reps: Keyword.get(opts, :reps, 3),
    drop_ms: 5_000,
    max_ms: 900_000,
    # Unmodified aiutp cannot cross a 1280 black hole: 60 s show it dies.
    dead_ms: 60_000,
    at_once: true
  },
  %{
    title: "with aiutp's send fix (examples/aiutp/window.patch) in both builds",
    builds: {:refw, :patw},
    bytes: round(Keyword.get(opts, :fast_mb, 50.0) * 1_000_000),
    reps: Keyword.get(opts, :fast_reps, 7),
    drop_ms: 1_000,
    max_ms: 120_000,
    dead_ms: 20_000,
    at_once: false
  }
]

dir = Path.join(System.tmp_dir!(), "aiutp_bench_#{System.pid()}")
File.mkdir_p!(dir)
built = AiutpLab.build!(dir)

# One transfer on a lab of its own, torn down afterwards.
run_one = fn mode, {name, variant, mtus, drop, path_mtu}, build, tag ->
  prefix = "aib#{tag}-#{System.pid()}"
  up = ["up", "--prefix", prefix, "--variant", variant, "--mtus", mtus]
  {_, 0} = System.cmd(lab, up, stderr_to_stdout: true)
  ns = %{prefix: prefix, client: prefix <> "-c", server: prefix <> "-s"}
  {unpatched, _} = mode.builds
  # Its 1296-byte payloads never cross a 1280 black hole.
  dies = build == unpatched and variant == "blackhole" and (mtus =~ "1280" or drop == 1280)
  max_ms = if dies, do: mode.dead_ms, else: mode.max_ms
  drop = if drop, do: {mode.drop_ms, drop}

  try do
    {name, build, path_mtu, AiutpLab.transfer(ns, build, built, drop, mode.bytes, max_ms)}
  after
    System.cmd(lab, ["down", "--prefix", prefix], stderr_to_stdout: true)
  end
end

show = fn mode, rep, {name, build, _, r} ->
  IO.puts(
    "#{mode.title} rep #{rep} #{build} #{name}: completed=#{r.completed} ms=#{Map.get(r, :ms)}"
  )
end

measure = fn mode ->
  {a, b} = mode.builds

  for rep <- 1..mode.reps do
    if mode.at_once do
      jobs =
        for {path, i} <- Enum.with_index(paths),
            build <- [a, b],
            do: {path, build, "#{i}#{build}"}

      jobs
      |> Task.async_stream(fn {path, build, tag} -> run_one.(mode, path, build, tag) end,
        timeout: :infinity,
        max_concurrency: length(jobs)
      )
      |> Enum.map(fn {:ok, r} -> tap(r, &show.(mode, rep, &1)) end)
    else
      order = if rem(rep, 2) == 1, do: [a, b], else: [b, a]

      for {path, i} <- Enum.with_index(paths), build <- order do
        tap(run_one.(mode, path, build, "#{i}#{build}"), &show.(mode, rep, &1))
      end
    end
  end
  |> List.flatten()
end

median = fn
  [] -> nil
  xs -> xs |> Enum.sort() |> Enum.at(div(length(xs) - 1, 2))
end

seconds = fn
  nil -> "–"
  ms -> :erlang.float_to_binary(ms / 1000, decimals: 2) <> " s"
end

table = fn mode, runs ->
  {a, b} = mode.builds

  rows =
    for {name, _, _, _, path_mtu} <- paths do
      of = fn build -> for {^name, ^build, _, r} <- runs, do: r end
      done = fn rs -> for r <- rs, r.completed and Map.get(r, :identical, false), do: r.ms end
      {ref, pat} = {of.(a), of.(b)}
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
      late = Enum.count(ref ++ pat, &(Map.get(&1, :dropped) == false))
      late = if late > 0, do: "; the drop came after the end in #{late} runs", else: ""
      cuts = Enum.map(pat, &Map.get(Map.get(&1, :counters) || %{}, :window_cuts, 0))
      range = fn rs -> rs |> done.() |> Enum.sort() |> Enum.map(seconds) |> Enum.join(", ") end

      "| #{name} | #{length(done.(ref))}/#{length(ref)}, #{seconds.(ref_ms)} | " <>
        "#{length(done.(pat))}/#{length(pat)}, #{seconds.(pat_ms)} | #{ratio} | " <>
        "#{mtus} (#{path_mtu}); above: #{above}#{late} | #{Enum.join(cuts, ", ")} | " <>
        "#{range.(ref)} / #{range.(pat)} |"
    end

  """
  ## #{mode.title}

  #{mode.bytes} bytes a transfer, #{mode.reps} repetitions, #{if mode.at_once, do: "all transfers of a repetition at once (each on its own lab)", else: "one transfer at a time, the builds interleaved (order swapped every repetition)"}; the MTU drops #{mode.drop_ms} ms after the client VM starts; a run that did not complete in time counts as not completed (#{div(mode.max_ms, 1000)} s; the unmodified build on the two 1280 black holes, where it dies, #{div(mode.dead_ms, 1000)} s).

  | path | unmodified: completed, median | patched: completed, median | patched / unmodified | patched PLPMTU at the end (path MTU) | patched window cuts per run | all times, unmodified / patched |
  |---|---|---|---|---|---|---|
  #{Enum.join(rows, "\n")}
  """
end

tables = for mode <- modes, do: table.(mode, measure.(mode))
File.rm_rf!(dir)

File.write!("bench/results/aiutp.md", """
# aiutp on the namespace lab: unmodified against patched with plpmtud

- command: `MIX_ENV=test mix run bench/aiutp.exs --mb #{Enum.at(modes, 0).bytes / 1_000_000} --reps #{Enum.at(modes, 0).reps} --fast-mb #{Enum.at(modes, 1).bytes / 1_000_000} --fast-reps #{Enum.at(modes, 1).reps}` (root)
- the real aiutp (`#{AiutpLab.fixture()}`), built with erlc, no Elixir in its VMs; patched = #{Path.relative_to(AiutpLab.patch("plpmtud.patch"), File.cwd!())} with `mtu_discovery_enabled` on; IPv4 (aiutp has no IPv6: `aiutp_util:getaddr/1` takes IPv4 tuples only)
- machine: #{:erlang.system_info(:system_architecture)}, #{System.schedulers_online()} schedulers
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}

#{Enum.join(tables, "\n")}
""")

IO.puts("wrote bench/results/aiutp.md")
