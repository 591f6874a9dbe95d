defmodule PLPMTUD.LoadTest do
  # Not async: it measures the whole VM.
  use ExUnit.Case, async: false

  @moduletag :load
  @moduletag timeout: 300_000

  # An answer of the prober: at most 8 events, each of a known shape.
  defp events?(answer) when is_list(answer) and length(answer) <= 8,
    do: Enum.all?(answer, &event?/1)

  defp events?(_answer), do: false

  # A loss batch's answer: the probes named and the events.
  defp lost?({probes, events}), do: Enum.all?(probes, &is_integer/1) and events?(events)
  defp lost?(_answer), do: false

  defp event?({:probe_due, size}), do: size in 576..1500
  defp event?({:probe_acked, _id, size, rtt}), do: size in 576..1500 and rtt >= 0
  defp event?({:probe_lost, _id, size, :dup_ack}), do: size in 576..1500
  defp event?({:probe_lost, _id, size, :timeout}), do: size in 576..1500
  defp event?({:probe_lost, _id, size, :resent}), do: size in 576..1500
  defp event?({:search_started, limit}), do: limit in 576..1500
  defp event?({:search_complete, mtu}), do: mtu in 576..1500
  defp event?({:fallback, 576, wait}), do: wait > 0
  defp event?({:black_hole_suspected, mtu}), do: mtu in 576..1500
  defp event?({:black_hole_confirmed, mtu}), do: mtu in 576..1500

  defp event?({:ptb, 900, verdict}),
    do: verdict in [:accepted, :unmatched, :not_smaller, :below_floor, :not_probing]

  defp event?({:mtu_changed, old, new, reason}),
    do: old != new and new in 576..1500 and is_atom(reason)

  defp event?(_), do: false

  test "1000 processes x 1000 events on one prober: invariants hold throughout" do
    {:ok, p} = PLPMTUD.new(size_unit: :ip, probe_timeout_mode: :fixed, probe_timeout: 10)
    assert [{:search_started, 1500}, {:probe_due, 1038}] = PLPMTUD.connected(p, 0)

    1..1000
    |> Task.async_stream(
      fn worker ->
        Enum.reduce(1..1000, :ok, fn i, :ok ->
          now = worker * 1000 + i
          id = worker * 1_000_000 + i

          answer =
            case rem(i, 7) do
              0 ->
                with size when is_integer(size) <- PLPMTUD.probe_size(p),
                     do: PLPMTUD.on_send(p, id, size, now),
                     else: (nil -> [])

              1 ->
                PLPMTUD.on_ack(p, id - 1, 1038, now)

              2 ->
                PLPMTUD.on_lost(p, [id - 2], :dup_ack, now)

              3 ->
                PLPMTUD.on_ack(p, id, 1200, now)

              4 ->
                PLPMTUD.on_lost(p, [{id, PLPMTUD.packet_size(p)}], :timeout, now)

              5 ->
                PLPMTUD.on_tick(p, now)

              6 ->
                PLPMTUD.on_ptb(p, 900, id - 6, now)
            end

          # A probe may be taken by another process between the two calls.
          assert answer in [:probe, :normal] or lost?(answer) or events?(answer), inspect(answer)
          if rem(i, 100) == 0, do: :ok = PLPMTUD.info(p).invariants
          :ok
        end)
      end,
      max_concurrency: 1000,
      timeout: 120_000
    )
    |> Stream.run()

    assert :ok = PLPMTUD.info(p).invariants
    assert PLPMTUD.packet_size(p) in 576..1500
  end

  defp rss_bytes do
    "/proc/self/status"
    |> File.read!()
    |> then(&Regex.run(~r/VmRSS:\s+(\d+) kB/, &1))
    |> then(fn [_, kb] -> String.to_integer(kb) * 1024 end)
  end

  defp settle do
    for pid <- Process.list(), do: :erlang.garbage_collect(pid)
    Process.sleep(200)
    {:erlang.memory(:total), rss_bytes()}
  end

  defp churn do
    Task.async(fn ->
      for _ <- 1..1_000_000, do: {:ok, _} = PLPMTUD.new()

      for _ <- 1..10_000 do
        {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
        PLPMTUD.Socket.close(s)
      end
    end)
    |> Task.await(240_000)
  end

  test "10^6 probers and 10^4 sockets created and dropped: RSS and BEAM memory return to baseline" do
    churn()
    {beam0, rss0} = settle()
    churn()
    {beam1, rss1} = settle()
    IO.puts("\n  leak test: BEAM #{beam0} -> #{beam1} bytes, RSS #{rss0} -> #{rss1} bytes")
    assert beam1 <= beam0 * 1.05, "BEAM memory #{beam0} -> #{beam1}"
    assert rss1 <= rss0 * 1.05, "RSS #{rss0} -> #{rss1}"
  end

  # Wall time of one call in microseconds.
  defp timed(fun) do
    t0 = System.monotonic_time(:microsecond)
    fun.()
    System.monotonic_time(:microsecond) - t0
  end

  # One busy process per scheduler: a call's wall time is then the NIF's own
  # time (a process that runs out of reductions is rescheduled at once),
  # while the other scheduler sends batches. (The sink does not read: a
  # reader thread would compete with the schedulers for the 2 cores.)
  test "NIF calls under load return in well under 1 ms" do
    {:ok, p} = PLPMTUD.new(size_unit: :ip)
    assert [{:search_started, 1500}, {:probe_due, 1038}] = PLPMTUD.connected(p, 0)
    {:ok, sink} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, {_, port}} = PLPMTUD.Socket.sockname(sink)
    {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, connect: {{127, 0, 0, 1}, port})
    {:ok, _} = PLPMTUD.Socket.set_gso(s, false)
    big_batch = List.duplicate(:binary.copy(<<0>>, 1200), 20_000)

    sender =
      Task.async(fn -> Enum.flat_map(1..5, fn _ -> batch_call_times(s, big_batch, []) end) end)

    events =
      Task.async(fn ->
        Enum.flat_map(1..200_000, fn i ->
          [
            timed(fn -> PLPMTUD.on_ack(p, i, 1200, i) end),
            timed(fn -> PLPMTUD.info(p) end)
          ]
        end)
      end)

    batch_times = sender |> Task.await(120_000) |> Enum.sort()
    event_times = events |> Task.await(120_000) |> Enum.sort()
    pct = fn sorted, q -> Enum.at(sorted, min(length(sorted) - 1, trunc(length(sorted) * q))) end

    IO.puts(
      "\n  under load: #{length(event_times)} event calls, p99.9 #{pct.(event_times, 0.999)} us, " <>
        "max #{List.last(event_times)} us; #{length(batch_times)} send_batch NIF calls, " <>
        "median #{pct.(batch_times, 0.5)} us, p90 #{pct.(batch_times, 0.9)} us, " <>
        "p99 #{pct.(batch_times, 0.99)} us, max #{List.last(batch_times)} us"
    )

    # Wall time: the rare maxima are the OS preempting a scheduler thread.
    assert pct.(event_times, 0.999) < 1_000
    assert pct.(batch_times, 0.9) < 1_000
  end

  # Times every NIF call of one send_batch (the Elixir side loops on {:partial, n}).
  defp batch_call_times(socket, datagrams, acc) do
    t0 = System.monotonic_time(:microsecond)
    result = :plpmtud_nif.socket_send(socket, nil, datagrams, false)
    acc = [System.monotonic_time(:microsecond) - t0 | acc]

    case result do
      {:partial, sent} -> batch_call_times(socket, Enum.drop(datagrams, sent), acc)
      _ -> acc
    end
  end
end
