# Goodput of the uTP-shaped example transport (:plpmtud_example_utp) across
# the namespace lab: plpmtud against fixed packet sizes, on every path,
# IPv4 and IPv6. Needs root.
#
#   mix run bench/transfer.exs [--mb 5,50] [--reps 5] [--out bench/results/transfer.md]
#                              [--path TEXT]   (only the paths whose name contains TEXT)
#
# Sizings: a fixed 1296-byte payload (aiutp today, the kernel's default DF
# policy), a fixed 1452-byte payload with DF, a fixed payload at the path's
# true size (an oracle: the smallest MTU the path has during the run, minus
# IP, UDP 8 and the example's 20-byte header) with DF, and plpmtud. Each
# row is the median (by goodput) of --reps transfers (default 5), the
# sizings interleaved; a sizing that stalls on its first try, or takes more
# than 10 s (a fixed size above the path's: every packet is lost once and
# resent in pieces), is not tried again. plpmtud re-probes every 150 ms, so
# that the rise back to 1350 is found within a 50 MB transfer. The mismatched link's path MTU is 1354, not 1350: a veth takes
# frames up to its MTU plus 4 bytes (VLAN_HLEN) and r2 forwards at 1500
# (DF pings of 1354 bytes pass there, 1355 do not).

{opts, _, _} =
  OptionParser.parse(System.argv(), strict: [mb: :string, out: :string, reps: :integer, path: :string])

reps = Keyword.get(opts, :reps, 5)
sizes = opts |> Keyword.get(:mb, "5,50") |> String.split(",") |> Enum.map(&String.to_integer/1)
out = Keyword.get(opts, :out, "bench/results/transfer.md")
lab = Path.expand("scripts/lab")
prefix = "plpgp-#{System.pid()}"
server = %{inet: {10, 71, 3, 2}, inet6: {0xFD71, 3, 0, 0, 0, 0, 0, 2}}
ip = %{inet: 20, inet6: 40}
overhead = 8 + :plpmtud_example_utp.header_bytes()
run_lab = fn args -> System.cmd(lab, args ++ ["--prefix", prefix], stderr_to_stdout: true) end
mtu = fn size -> fn -> {_, 0} = run_lab.(["mtu", "#{size}"]) end end

# {name, lab arguments, events, MTU at the end, smallest MTU during the run}
paths = [
  {"1500 clean", ~w(--variant icmp --mtus 1500,1500,1500), [], 1500, 1500},
  {"1350, ICMP", ~w(--variant icmp), [], 1350, 1350},
  {"1350, black hole", ~w(--variant blackhole), [], 1350, 1350},
  {"1350, mismatched link", ~w(--variant mismatch), [], 1354, 1354},
  {"client link 1400 (EMSGSIZE)", ~w(--variant blackhole --mtus 1400,1500,1500), [], 1400, 1400},
  {"1350 -> 1280 -> 1350, ICMP blocked", ~w(--variant blackhole),
   [{0.3, mtu.(1280)}, {0.6, mtu.(1350)}], 1350, 1280}
]

paths = Enum.filter(paths, fn {name, _, _, _, _} -> name =~ Keyword.get(opts, :path, "") end)

label = fn
  {:fixed, 1296} -> "fixed 1296 (aiutp)"
  {:oracle, n} -> "fixed #{n} (path's true payload)"
  {:fixed, n} -> "fixed #{n}"
  :plpmtud -> "plpmtud"
end

run = fn name, lab_args, events, family, bytes, sizing ->
  {_, 0} = run_lab.(["up" | lab_args])

  r =
    :plpmtud_example_utp.run(%{
      server_ip: server[family],
      client_netns: "#{prefix}-c",
      server_netns: "#{prefix}-s",
      bytes: bytes,
      sizing:
        case sizing do
          {:oracle, n} -> {:fixed, n}
          other -> other
        end,
      events: events,
      probe_interval: 150,
      stall_ms: 2_000,
      max_ms: 120_000
    })

  IO.puts(
    :stderr,
    "#{name} #{family} #{div(bytes, 1_000_000)} MB #{label.(sizing)}: " <>
      "#{r.completed} #{r.goodput_mb_s} MB/s"
  )

  r
end

ok? = fn r -> r.completed and r.identical end

fmt = fn
  nil -> "–"
  x when is_float(x) -> :erlang.float_to_binary(x, decimals: 2)
  x -> "#{x}"
end

rows =
  try do
    for mb <- sizes,
        {name, lab_args, events, end_mtu, min_mtu} <- paths,
        family <- [:inet, :inet6] do
      true_end = end_mtu - ip[family] - overhead
      true_min = min_mtu - ip[family] - overhead
      sizings = [{:fixed, 1296}, {:fixed, 1452}, {:oracle, true_min}, :plpmtud]

      tries =
        Enum.reduce(1..reps, %{}, fn rep, acc ->
          Enum.reduce(sizings, acc, fn s, acc ->
            case Map.get(acc, s, []) do
              [first] when rep > 1 and (not first.completed or first.time_ms > 10_000) ->
                acc

              runs ->
                Map.put(acc, s, runs ++ [run.(name, lab_args, events, family, mb * 1_000_000, s)])
            end
          end)
        end)

      median = fn runs ->
        runs |> Enum.sort_by(& &1.goodput_mb_s) |> Enum.at(div(length(runs), 2))
      end

      results = for s <- sizings, do: {s, median.(tries[s])}
      fixed = for {s, r} <- results, s != :plpmtud, ok?.(r), do: r.goodput_mb_s
      best = if fixed == [], do: nil, else: Enum.max(fixed)
      {_, base} = List.keyfind(results, {:fixed, 1296}, 0)
      {_, p} = List.keyfind(results, :plpmtud, 0)

      drop =
        case {events, p.event_ms} do
          {[_ | _], [at | _]} ->
            near =
              Enum.find(p.size_changes, fn {t, pl} ->
                t >= at and pl <= true_min and pl >= true_min - 16
              end)

            if near, do: elem(near, 0) - at, else: nil

          _ ->
            nil
        end

      for {s, r} <- results do
        plp = s == :plpmtud

        ratio = fn other ->
          if plp and ok?.(r) and other, do: r.goodput_mb_s / max(other, 0.01), else: nil
        end

        %{
          path: name,
          family: family,
          mb: mb,
          sizing: label.(s),
          r: r,
          true_end: true_end,
          best: ratio.(best),
          vs1296: ratio.(if ok?.(base), do: base.goodput_mb_s),
          share: if(plp, do: 100 * r.probe_bytes / max(r.bytes_sent, 1)),
          drop: if(plp, do: drop),
          plp: plp
        }
      end
    end
    |> List.flatten()
  after
    run_lab.(["down"])
  end

header = [
  "| path | family | MB | sizing | completed, identical | goodput MB/s | payload at end (true) | probes | probe bytes % | window reductions (by probes) | search complete ms | longest stall ms | drop to 1280: ms to within 16 B | plpmtud / best fixed | plpmtud / fixed 1296 |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
]

lines =
  Enum.map(rows, fn row ->
    r = row.r
    done = if ok?.(r), do: "yes", else: if(r.completed, do: "BAD DATA", else: "stalled")

    "| #{row.path} | #{row.family} | #{row.mb} | #{row.sizing} | #{done} | #{fmt.(r.goodput_mb_s)} | " <>
      "#{r.payload_at_end} (#{row.true_end}) | #{r.probes} | #{fmt.(row.share)} | " <>
      "#{r.window_reductions} (#{r.probe_window_reductions}) | #{fmt.(if row.plp, do: r.search_complete_ms)} | " <>
      "#{r.longest_stall_ms} | #{fmt.(row.drop)} | #{fmt.(row.best)} | #{fmt.(row.vs1296)} |"
  end)

plp = Enum.filter(rows, & &1.plp)
above = Enum.count(rows, fn row -> row.r.payload_at_end > row.true_end and row.plp end)
worst = plp |> Enum.map(& &1.best) |> Enum.reject(&is_nil/1) |> Enum.min(fn -> nil end)
incomplete = Enum.count(plp, fn row -> not ok?.(row.r) end)

summary = [
  "",
  "- plpmtud / best fixed sizing that completed, lowest: #{fmt.(worst)}",
  "- plpmtud runs not completed identical: #{incomplete} of #{length(plp)}",
  "- plpmtud runs ending above the path's true payload: #{above}",
  "- probe bytes: padding of probes plus the whole of every lost probe, as a share of all bytes sent",
  "- search complete: ms from connected to the prober's first search_complete (after the handshake, whose RTT went to plpmtud:on_rtt/2)",
  "- a sizing that stalled or took more than 10 s on its first try was not tried again (its row is that one run); plpmtud re-probes every 150 ms",
  "- the path changes run in the sender's process (~7 ms for the lab's two `ip link set`), for every sizing alike"
]

PLPMTUD.CLI.write_report!(
  out,
  "Goodput of the uTP-shaped example across the namespace lab: one benchmark run, each row the median of #{reps} transfers",
  Enum.join(["mix run bench/transfer.exs" | System.argv()], " "),
  header ++ lines ++ summary
)

Enum.each(header ++ lines ++ summary, &IO.puts/1)
