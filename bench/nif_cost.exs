# Cost of one prober event from Elixir: plpmtud's NIF calls next to a
# pure-Elixir version of aiutp's binary search kept in an 8-field record and
# in a 56-field record (aiutp's connection record size). Interleaved, R reps.
#
#   mix run bench/nif_cost.exs [--calls N] [--reps R]
#
# Writes bench/results/nif_cost.md.

defmodule Bench.AiutpSearch do
  @moduledoc false
  # aiutp_mtu's search: floor/ceiling in payload bytes, one probe in flight.
  require Record

  Record.defrecord(:mtu8,
    floor: 528,
    ceiling: 1452,
    probe_seq: 0,
    probe_size: 0,
    fails: 0,
    last: 0,
    interval: 0,
    enabled: true
  )

  fields = for i <- 1..50, do: {:"f#{i}", i}

  Record.defrecord(
    :conn56,
    [floor: 528, ceiling: 1452, probe_seq: 0, probe_size: 0, fails: 0, last: 0] ++ fields
  )

  def new8, do: mtu8()
  def new56, do: conn56()

  def on_ack8(r, seq) do
    if mtu8(r, :probe_seq) == seq do
      floor = mtu8(r, :probe_size)

      mtu8(r,
        floor: floor,
        probe_size: div(floor + mtu8(r, :ceiling), 2),
        fails: 0,
        probe_seq: seq + 1
      )
    else
      r
    end
  end

  def on_ack56(r, seq) do
    if conn56(r, :probe_seq) == seq do
      floor = conn56(r, :probe_size)

      conn56(r,
        floor: floor,
        probe_size: div(floor + conn56(r, :ceiling), 2),
        fails: 0,
        probe_seq: seq + 1
      )
    else
      r
    end
  end
end

{opts, _, _} = OptionParser.parse(System.argv(), strict: [calls: :integer, reps: :integer])
calls = Keyword.get(opts, :calls, 1_000_000)
reps = Keyword.get(opts, :reps, 7)

{:ok, p} = PLPMTUD.new()
PLPMTUD.connected(p, 0)

loop = fn fun ->
  {us, _} = :timer.tc(fn -> Enum.reduce(1..calls, nil, fn i, _ -> fun.(i) end) end)
  us * 1000 / calls
end

empty = fn -> loop.(fn i -> i end) end

cases = [
  {"PLPMTUD.on_ack/4 of a data packet (the common case)",
   fn -> loop.(fn i -> :plpmtud_nif.prober_acked(p, i, i, 1200) end) end},
  {"PLPMTUD.probe_size/1", fn -> loop.(fn _ -> :plpmtud_nif.prober_size(p, :probe) end) end},
  {"PLPMTUD.packet_size/1", fn -> loop.(fn _ -> :plpmtud_nif.prober_size(p, :packet) end) end},
  {"Elixir: aiutp search in an 8-field record",
   fn ->
     {us, _} =
       :timer.tc(fn ->
         Enum.reduce(1..calls, Bench.AiutpSearch.new8(), fn i, r ->
           Bench.AiutpSearch.on_ack8(r, i - 1)
         end)
       end)

     us * 1000 / calls
   end},
  {"Elixir: aiutp search in a 56-field record",
   fn ->
     {us, _} =
       :timer.tc(fn ->
         Enum.reduce(1..calls, Bench.AiutpSearch.new56(), fn i, r ->
           Bench.AiutpSearch.on_ack56(r, i - 1)
         end)
       end)

     us * 1000 / calls
   end}
]

results =
  for _ <- 1..reps,
      {name, fun} <- Enum.shuffle([{"loop overhead", empty} | cases]),
      reduce: %{} do
    acc -> Map.update(acc, name, [fun.()], &[fun.() | &1])
  end

median = fn l -> l |> Enum.sort() |> Enum.at(div(length(l), 2)) end
overhead = median.(results["loop overhead"])
net = Map.new(results, fn {k, v} -> {k, Enum.map(v, &(&1 - overhead))} end)
r8 = median.(net["Elixir: aiutp search in an 8-field record"])
r56 = median.(net["Elixir: aiutp search in a 56-field record"])
{host, 0} = System.cmd("hostname", [])

rows =
  for {name, _} <- cases do
    m = median.(net[name])

    "| #{name} | #{Float.round(m, 1)} | #{Float.round(Enum.min(net[name]), 1)}–#{Float.round(Enum.max(net[name]), 1)} | #{Float.round(m / r8, 2)} | #{Float.round(m / r56, 2)} |"
  end

report = """
# Cost of one event call from Elixir

- command: `mix run bench/nif_cost.exs --calls #{calls} --reps #{reps}`
- machine: #{String.trim(host)}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- ns per call, loop overhead (#{Float.round(overhead, 1)} ns) subtracted; median and min–max of #{reps} interleaved repetitions of #{calls} calls

| call | ns (median) | min–max | ratio to 8-field record | ratio to 56-field record |
|---|---|---|---|---|
#{Enum.join(rows, "\n")}
"""

File.write!("bench/results/nif_cost.md", report)
IO.puts(report)
