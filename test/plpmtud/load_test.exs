defmodule PLPMTUD.LoadTest do
  # Not async: it measures the whole VM.
  use ExUnit.Case, async: false

  @moduletag :load
  @moduletag timeout: 300_000

  test "1000 processes x 1000 events on one prober: invariants hold throughout" do
    {:ok, p} = PLPMTUD.new(probe_timeout_mode: :fixed, probe_timeout: 10)
    :ok = PLPMTUD.connected(p, 0)

    1..1000
    |> Task.async_stream(
      fn worker ->
        Enum.reduce(1..1000, :ok, fn i, :ok ->
          now = worker * 1000 + i
          id = worker * 1_000_000 + i

          case rem(i, 7) do
            0 ->
              with size when is_integer(size) <- PLPMTUD.next_probe(p),
                   do: PLPMTUD.probe_sent(p, id, size, now)

            1 ->
              PLPMTUD.acked(p, id - 1, now)

            2 ->
              PLPMTUD.lost(p, id - 2, :dup_ack, now)

            3 ->
              PLPMTUD.packet_acked(p, 1200, now)

            4 ->
              PLPMTUD.packet_lost(p, PLPMTUD.mtu(p), now)

            5 ->
              PLPMTUD.tick(p, now)

            6 ->
              PLPMTUD.notifications(p)
          end

          if rem(i, 100) == 0, do: :ok = PLPMTUD.check(p)
          :ok
        end)
      end,
      max_concurrency: 1000,
      timeout: 120_000
    )
    |> Stream.run()

    assert :ok = PLPMTUD.check(p)
    assert PLPMTUD.mtu(p) in 576..1500
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

  test "NIF calls under load return in well under 1 ms" do
    {:ok, p} = PLPMTUD.new()
    :ok = PLPMTUD.connected(p, 0)
    {:ok, sink} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, {_, port}} = PLPMTUD.Socket.sockname(sink)
    {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, connect: {{127, 0, 0, 1}, port})
    :ok = PLPMTUD.Socket.set_gso(s, false) |> elem(0)
    big_batch = List.duplicate(:binary.copy(<<0>>, 1200), 20_000)

    # Each send_batch NIF call returns after about a time slice ({:partial, n}).
    senders =
      for _ <- 1..4 do
        Task.async(fn ->
          for _ <- 1..3, reduce: [] do
            acc -> acc ++ batch_call_times(s, big_batch, [])
          end
        end)
      end

    events =
      for w <- 1..8 do
        Task.async(fn ->
          for i <- 1..50_000 do
            [
              timed(fn -> PLPMTUD.packet_acked(p, 1200, w * 100_000 + i) end),
              timed(fn -> PLPMTUD.info(p) end)
            ]
          end
        end)
      end

    batch_times = senders |> Task.await_many(120_000) |> List.flatten() |> Enum.sort()
    event_times = events |> Task.await_many(120_000) |> List.flatten() |> Enum.sort()
    pct = fn sorted, q -> Enum.at(sorted, min(length(sorted) - 1, trunc(length(sorted) * q))) end

    IO.puts(
      "\n  under load: #{length(event_times)} event calls, p99.99 #{pct.(event_times, 0.9999)} us, max #{List.last(event_times)} us; " <>
        "#{length(batch_times)} send_batch NIF calls, p99 #{pct.(batch_times, 0.99)} us, max #{List.last(batch_times)} us"
    )

    assert pct.(event_times, 0.9999) < 1_000
    assert pct.(batch_times, 0.99) < 1_000
  end

  # Times every NIF call of one send_batch (the Elixir side loops on {:partial, n}).
  defp batch_call_times(socket, datagrams, acc) do
    t0 = System.monotonic_time(:microsecond)
    result = PLPMTUD.Native.socket_send_batch(socket, datagrams, nil)
    acc = [System.monotonic_time(:microsecond) - t0 | acc]

    case result do
      {:partial, sent} -> batch_call_times(socket, Enum.drop(datagrams, sent), acc)
      _ -> acc
    end
  end
end
