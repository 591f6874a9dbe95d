# NIF calls and time per transport event through the Erlang facade
# (:plpmtud), next to a bare NIF call (prober_size, the cheapest prober NIF)
# and to the NIF under on_ack called directly. Interleaved, R reps.
#
#   mix run bench/facade_cost.exs [--calls N] [--reps R] [--out FILE]
#
# Writes bench/results/facade_cost.md (or FILE).

{opts, _, _} =
  OptionParser.parse(System.argv(), strict: [calls: :integer, reps: :integer, out: :string])

calls = Keyword.get(opts, :calls, 1_000_000)
reps = Keyword.get(opts, :reps, 7)
out = Keyword.get(opts, :out, "bench/results/facade_cost.md")

# aiutp on IPv4: 48 bytes of headers per packet; a search in progress with a
# probe in flight (seq 1), so data events take the common path.
{:ok, h} = :plpmtud.new(%{packet_overhead: 28})
:plpmtud.connected(h, 0)
:probe = :plpmtud.on_send(h, 1, :plpmtud.probe_size(h), 0)

events = [
  {"prober_lost, the NIF under on_lost, called directly",
   fn i -> :plpmtud_nif.prober_lost(h, 1, :dup_ack, [{i + 10, 400}]) end},
  {"prober_acked, the NIF under on_ack, called directly",
   fn i -> :plpmtud_nif.prober_acked(h, 1, i + 10, 1000) end},
  {"on_send (a data packet, no probe due)", fn i -> :plpmtud.on_send(h, i + 10, 1000, 1) end},
  {"on_ack (a data packet)", fn i -> :plpmtud.on_ack(h, i + 10, 1000, 1) end},
  {"on_lost (a data packet below the PLPMTU)",
   fn i -> :plpmtud.on_lost(h, [{i + 10, 400}], :sack, 1) end},
  {"on_tick (nothing due)", fn _ -> :plpmtud.on_tick(h, 1) end},
  {"packet_size", fn _ -> :plpmtud.packet_size(h) end},
  {"probe_size", fn _ -> :plpmtud.probe_size(h) end}
]

bare =
  {"bare NIF call (prober_size, packet)", fn _ -> :plpmtud_nif.prober_size(h, :packet) end}

# NIF calls per event, counted by call_count tracing of the NIF module.
count_calls = fn fun ->
  :erlang.trace_pattern({:plpmtud_nif, :_, :_}, true, [:call_count])
  :erlang.trace(self(), true, [:call])
  fun.(0)
  :erlang.trace(self(), false, [:call])

  n =
    for {f, a} <- :plpmtud_nif.module_info(:exports) -- [module_info: 0, module_info: 1, status: 0], reduce: 0 do
      acc ->
        case :erlang.trace_info({:plpmtud_nif, f, a}, :call_count) do
          {:call_count, c} when is_integer(c) -> acc + c
          _ -> acc
        end
    end

  :erlang.trace_pattern({:plpmtud_nif, :_, :_}, false, [:call_count])
  n
end

nif_calls = Map.new([bare | events], fn {name, fun} -> {name, count_calls.(fun)} end)

loop = fn fun ->
  {us, _} = :timer.tc(fn -> Enum.reduce(1..calls, nil, fn i, _ -> fun.(i) end) end)
  us * 1000 / calls
end

results =
  for _ <- 1..reps,
      {name, fun} <- Enum.shuffle([{"loop overhead", fn i -> i end}, bare | events]),
      reduce: %{} do
    acc -> Map.update(acc, name, [loop.(fun)], &[loop.(fun) | &1])
  end

median = fn l -> l |> Enum.sort() |> Enum.at(div(length(l), 2)) end
overhead = median.(results["loop overhead"])
net = Map.new(results, fn {k, v} -> {k, Enum.map(v, &(&1 - overhead))} end)
base = median.(net[elem(bare, 0)])
{host, 0} = System.cmd("hostname", [])

rows =
  for {name, _} <- [bare | events] do
    m = median.(net[name])

    "| #{name} | #{nif_calls[name]} | #{Float.round(m, 1)} | #{Float.round(Enum.min(net[name]), 1)}–#{Float.round(Enum.max(net[name]), 1)} | #{Float.round(m / base, 2)} |"
  end

report = """
# The Erlang facade: NIF calls and time per transport event

- command: `mix run bench/facade_cost.exs --calls #{calls} --reps #{reps}`
- machine: #{String.trim(host)}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- NIF calls counted with call_count tracing of the NIF module; ns per call with the
  loop overhead (#{Float.round(overhead, 1)} ns) subtracted, median and min–max of
  #{reps} interleaved repetitions of #{calls} calls

| call | NIF calls | ns (median) | min–max | ratio to the bare NIF call |
|---|---|---|---|---|
#{Enum.join(rows, "\n")}
"""

File.write!(out, report)
IO.puts(report)
