defmodule PLPMTUD.MemoryTest do
  # Not async: it compares the whole VM's memory before and after.
  use ExUnit.Case, async: false

  @probers 10_000

  defp measure do
    :erlang.garbage_collect()
    Process.sleep(100)
    :erlang.memory(:total)
  end

  # A prober as a transport leaves it: connected, a probe in flight, an
  # ack, and the answers they got back.
  defp busy_prober do
    {:ok, p} = PLPMTUD.new(size_unit: :ip)
    [{:search_started, 1500}, {:probe_due, 1038}] = PLPMTUD.connected(p, 0)
    :probe = PLPMTUD.on_send(p, 1, 1038, 0)

    [{:probe_acked, 1, 1038, 5}, {:mtu_changed, 576, 1038, :probe_acked}, _] =
      PLPMTUD.on_ack(p, 1, 1038, 5)

    :probe = PLPMTUD.on_send(p, 2, 1269, 5)
    p
  end

  # Creates `@probers` probers in a process of its own and drops them all
  # when it exits; `while_held` runs (in the caller) while they are alive.
  defp churn(while_held \\ fn -> :ok end) do
    parent = self()

    task =
      Task.async(fn ->
        probers = for _ <- 1..@probers, do: busy_prober()
        send(parent, {:held, self()})

        receive do
          :release -> length(probers)
        end
      end)

    receive do
      {:held, pid} when pid == task.pid -> :ok
    end

    result = while_held.()
    send(task.pid, :release)
    @probers = Task.await(task, 60_000)
    result
  end

  test "10 000 probers created and dropped: memory returns to its baseline" do
    churn()
    baseline = measure()
    held = churn(&measure/0)
    churn()
    churn()
    after_churn = measure()

    per_prober = div(held - baseline, @probers)
    tolerance = max(div(baseline, 20), 1_000_000)

    IO.puts(
      "\n  memory: baseline #{baseline}, #{@probers} probers held #{held} " <>
        "(#{per_prober} bytes each), after 3 more rounds #{after_churn} bytes"
    )

    # The measure sees the probers: losing even a third of one round's
    # memory would exceed the tolerance.
    assert per_prober >= 500, "#{per_prober} bytes per prober: the measure does not see them"
    assert held - baseline > 3 * tolerance

    assert after_churn - baseline < tolerance,
           "grew by #{after_churn - baseline} bytes (tolerance #{tolerance})"
  end

  test "1 000 prober processes started and stopped: memory returns to its baseline" do
    round = fn ->
      pids =
        for _ <- 1..1_000, do: elem(PLPMTUD.Prober.start_link(config: [probe_timeout: 100]), 1)

      Enum.each(pids, &GenServer.stop/1)
    end

    round.()
    baseline = measure()
    round.()
    round.()
    after_rounds = measure()
    tolerance = max(div(baseline, 20), 1_000_000)

    assert after_rounds - baseline < tolerance,
           "grew by #{after_rounds - baseline} bytes from #{baseline} (tolerance #{tolerance})"
  end
end
