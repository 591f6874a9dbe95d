# Does a flooded PLPMTUD.Socket receiver starve the rest of the VM? A
# same-VM sender process sends 100-byte datagrams with gen_udp at a fixed
# target rate while a receiver in the same VM is flooded at full speed by
# the `blast` example (a separate OS process), and its achieved rate is
# compared with the same sender with no flood. The reverse of the
# same-scheduler reader check at the end of bench/send_rate.exs.
#
#   cargo build --release -p plpmtud_udp --example blast
#   mix run bench/starvation.exs [--rate 20000] [--ms 3000] [--reps 3]
#
# Two placements: the VM's schedulers as started (2 here), nothing pinned;
# and one scheduler online with every thread of the VM pinned to core 0
# (`taskset -a -p`) and the flooder on core 1, where the sender and the
# flooded reader share one scheduler. Receivers: none (the baseline),
# PLPMTUD.Socket `active: true`, `active: true, batch: true`, and gen_udp
# `active: true` for reference. Writes bench/results/starvation.md.

{opts, _, _} =
  OptionParser.parse(System.argv(), strict: [rate: :integer, ms: :integer, reps: :integer])

rate = Keyword.get(opts, :rate, 20_000)
window_ms = Keyword.get(opts, :ms, 3_000)
reps = Keyword.get(opts, :reps, 3)
warmup_ms = 300

alias PLPMTUD.Socket

blast = Path.expand("target/release/examples/blast")

unless File.exists?(blast) do
  raise "build the flooder first: cargo build --release -p plpmtud_udp --example blast"
end

lo = {127, 0, 0, 1}
os_pid = System.pid()

defmodule Starvation do
  def now, do: System.monotonic_time(:microsecond)

  # Sends at `rate`/s until `stop`: before each 1 ms sleep it sends what
  # the schedule asks for so far. Returns {sent, errors, elapsed µs, the
  # lag behind the schedule at each wake-up in µs}.
  def pace(s, port, payload, rate, t0, stop, sent, errors, lags) do
    t = now()

    if t >= stop do
      {sent, errors, t - t0, lags}
    else
      due = div((t - t0) * rate, 1_000_000)
      lags = [div((due - sent) * 1_000_000, rate) | lags]
      {sent, errors} = send_n(s, port, payload, due - sent, sent, errors)

      receive do
      after
        1 -> :ok
      end

      pace(s, port, payload, rate, t0, stop, sent, errors, lags)
    end
  end

  defp send_n(_s, _port, _payload, n, sent, errors) when n <= 0, do: {sent, errors}

  defp send_n(s, port, payload, n, sent, errors) do
    case :gen_udp.send(s, {127, 0, 0, 1}, port, payload) do
      :ok -> send_n(s, port, payload, n - 1, sent + 1, errors)
      {:error, _} -> send_n(s, port, payload, n - 1, sent + 1, errors + 1)
    end
  end

  # Receiver loops: datagrams handled until `stop` (monotonic µs).
  def count(:plpmtud, s, stop, n) do
    receive do
      {:plpmtud_udp, ^s, _ip, _port, _data} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: count(:plpmtud, s, stop, n + 1)
    after
      1_000 -> n
    end
  end

  def count(:batch, s, stop, n) do
    receive do
      {:plpmtud_udp_batch, ^s, items} ->
        n = n + length(items)
        if now() >= stop, do: n, else: count(:batch, s, stop, n)
    after
      1_000 -> n
    end
  end

  def count(:gen_udp, s, stop, n) do
    receive do
      {:udp, ^s, _ip, _port, _data} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: count(:gen_udp, s, stop, n + 1)
    after
      1_000 -> n
    end
  end

  def drain do
    receive do
      _ -> drain()
    after
      100 -> :ok
    end
  end
end

# The sender's destination: a gen_udp socket nobody reads (the kernel drops
# what its buffer cannot hold; no work in the VM).
{:ok, sink} = :gen_udp.open(0, [:binary, ip: lo, active: false])
{:ok, sink_port} = :inet.port(sink)
payload = :binary.copy(<<7>>, 100)

receivers = [
  {"none (the sender alone)", nil},
  {"PLPMTUD.Socket active: true", :plpmtud},
  {"PLPMTUD.Socket active: true, batch: true", :batch},
  {"gen_udp active: true (reference)", :gen_udp}
]

open_receiver = fn
  :plpmtud -> Socket.open(0, ip: lo, active: true)
  :batch -> Socket.open(0, ip: lo, active: true, batch: true)
  :gen_udp -> :gen_udp.open(0, [:binary, ip: lo, active: true])
end

port_of = fn
  :gen_udp, s ->
    {:ok, p} = :inet.port(s)
    p

  _, s ->
    {:ok, {_, p}} = Socket.sockname(s)
    p
end

close_receiver = fn
  :gen_udp, s -> :gen_udp.close(s)
  _, s -> Socket.close(s)
end

{original_mask, 0} = System.cmd("taskset", ["-p", os_pid])
original_mask = original_mask |> String.split() |> List.last()
all_online = System.schedulers_online()

placements = [
  {"#{all_online} schedulers, nothing pinned", all_online, nil},
  {"1 scheduler, VM pinned to core 0, flooder on core 1", 1, "0"}
]

place = fn online, core ->
  :erlang.system_flag(:schedulers_online, online)

  mask = if core, do: ["-c", core], else: [original_mask]
  {_, 0} = System.cmd("taskset", ["-a", "-p"] ++ mask ++ [os_pid])
end

run_one = fn kind, core ->
  {s, flooder, flood_port} =
    if kind do
      {:ok, s} = open_receiver.(kind)
      port = port_of.(kind, s)
      cmd = if core, do: ["-c", "1", blast], else: [blast]
      args = [Integer.to_string(port), Integer.to_string(warmup_ms + window_ms + 300), "100"]
      [exe | pre] = if core, do: ["taskset" | cmd], else: cmd
      task = Task.async(fn -> System.cmd(exe, pre ++ args) end)
      # Handle the first warmup_ms of the flood.
      _ = Starvation.count(kind, s, Starvation.now() + warmup_ms * 1_000, 0)
      {s, task, port}
    else
      {nil, nil, nil}
    end

  _ = flood_port
  parent = self()
  {:ok, out} = :gen_udp.open(0, [:binary, ip: lo])
  t0 = Starvation.now()
  stop = t0 + window_ms * 1_000

  sender =
    spawn_link(fn ->
      send(parent, {:paced, Starvation.pace(out, sink_port, payload, rate, t0, stop, 0, 0, [])})
    end)

  :ok = :gen_udp.controlling_process(out, sender)

  received = if kind, do: Starvation.count(kind, s, stop, 0), else: 0
  recv_elapsed = Starvation.now() - t0

  {sent, errors, elapsed, lags} =
    receive do
      {:paced, result} -> result
    after
      window_ms + 10_000 -> raise "the sender did not finish"
    end

  :gen_udp.close(out)

  blasted =
    if kind do
      {text, 0} = Task.await(flooder, window_ms + 30_000)
      close_receiver.(kind, s)
      Starvation.drain()
      String.to_integer(String.trim(text)) * 1000 / (warmup_ms + window_ms + 300)
    else
      0.0
    end

  lags = Enum.sort(lags)
  at = fn q -> Enum.at(lags, min(length(lags) - 1, trunc(length(lags) * q))) / 1000 end

  %{
    rate: sent * 1_000_000 / elapsed,
    errors: errors,
    lag_ms: List.last(lags) / 1000,
    lag_p50: at.(0.5),
    lag_p99: at.(0.99),
    received: received * 1_000_000 / recv_elapsed,
    blasted: blasted
  }
end

results =
  for {pname, online, core} <- placements, reduce: %{} do
    acc ->
      place.(online, core)
      # Let the placement settle.
      Process.sleep(200)

      order = for _ <- 1..reps, r <- Enum.shuffle(receivers), do: r

      acc =
        Enum.reduce(order, acc, fn {rname, kind}, acc ->
          r = run_one.(kind, core)

          IO.puts(
            "#{pname} | #{rname}: sender #{round(r.rate)}/s (lag p50 #{r.lag_p50} p99 #{r.lag_p99} max #{r.lag_ms} ms), " <>
              "received #{round(r.received)}/s, flood #{round(r.blasted)}/s"
          )

          Map.update(acc, {pname, rname}, [r], &[r | &1])
        end)

      place.(all_online, nil)
      acc
  end

:erlang.system_flag(:schedulers_online, all_online)
:gen_udp.close(sink)

median = fn list ->
  sorted = Enum.sort(list)
  Enum.at(sorted, div(length(sorted), 2))
end

k = fn x -> "#{:erlang.float_to_binary(x / 1000, decimals: 1)}k" end
f2 = fn x -> :erlang.float_to_binary(x * 1.0, decimals: 2) end

table = fn {pname, _, _} ->
  base = median.(Enum.map(results[{pname, "none (the sender alone)"}], & &1.rate))

  rows =
    Enum.map_join(receivers, "\n", fn {rname, kind} ->
      runs = results[{pname, rname}]
      rates = Enum.map(runs, & &1.rate)
      m = median.(rates)

      recv =
        if kind,
          do:
            "#{k.(median.(Enum.map(runs, & &1.received)))} | #{k.(median.(Enum.map(runs, & &1.blasted)))}",
          else: "– | –"

      "| #{rname} | #{k.(m)} | #{k.(Enum.min(rates))}–#{k.(Enum.max(rates))} | #{f2.(m / base)} | " <>
        "#{f2.(median.(Enum.map(runs, & &1.lag_p50)))} / #{f2.(median.(Enum.map(runs, & &1.lag_p99)))} / " <>
        "#{f2.(Enum.max(Enum.map(runs, & &1.lag_ms)))} | #{Enum.sum(Enum.map(runs, & &1.errors))} | #{recv} |"
    end)

  """
  ### #{pname}

  | receiver being flooded | sender's rate (median) | min–max | ratio to no flood | lag behind schedule at wake-up, p50 / p99 / max (ms) | send errors | receiver's delivered rate (median) | flooder's rate (median) |
  |---|---|---|---|---|---|---|---|
  #{rows}
  """
end

{hostname, 0} = System.cmd("hostname", [])

report = """
# Starvation: a paced same-VM sender while a receiver is flooded

- command: `cargo build --release -p plpmtud_udp --example blast && mix run bench/starvation.exs --rate #{rate} --ms #{window_ms} --reps #{reps}`
- machine: #{String.trim(hostname)}, #{:erlang.system_info(:logical_processors_available)} cores, #{all_online} schedulers, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- the sender: one process sending 100-byte datagrams with `gen_udp:send/4`
  to a socket nobody reads, at a target of #{rate}/s (each time it wakes it
  sends what the schedule asks for so far, then sleeps 1 ms), for
  #{window_ms} ms. "lag": how far behind its schedule it was at each
  wake-up (what it then sent at once), in ms; p50 and p99 are medians
  over the #{reps} repetitions, max the worst of all. The cores are shared
  with other work on the machine, so the lag has outliers with no flood
  too.
- the flood: the `blast` example (a separate OS process, 100-byte
  datagrams in UDP GSO batches of 32 at full speed) to a receiver in the
  same VM whose owner process counts what it gets; the sender starts after
  #{warmup_ms} ms of flood. "delivered": datagrams the owner handled per
  second during the sender's window.
- #{reps} repetitions per receiver, interleaved in random order within each
  placement.

#{Enum.map_join(placements, "\n", table)}
"""

File.mkdir_p!("bench/results")
File.write!("bench/results/starvation.md", report)
IO.puts(report)
