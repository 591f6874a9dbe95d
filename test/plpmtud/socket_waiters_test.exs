defmodule PLPMTUD.SocketWaitersTest do
  # Processes killed while waiting in recv/2 must not slow later callers.
  use ExUnit.Case, async: false

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Socket

  @lo4 {127, 0, 0, 1}
  @killed 20_000

  # Microseconds of one registration from a fresh process, cancelled after.
  defp registration_us(socket) do
    parent = self()

    spawn(fn ->
      {us, {:ok, _}} = :timer.tc(fn -> Native.socket_recv(socket, :wait) end)
      Native.socket_recv(socket, :cancel)
      send(parent, {:registered, us})
    end)

    receive do
      {:registered, us} -> us
    end
  end

  test "20 000 waiters killed in recv/2: registration stays O(1) and a live waiter gets its datagram at once" do
    {:ok, socket} = Socket.open(0, ip: @lo4, active: false)
    {:ok, sender} = Socket.open(0, ip: @lo4, active: false)
    {:ok, {_, port}} = Socket.sockname(socket)

    waiters = for _ <- 1..@killed, do: spawn(fn -> Socket.recv(socket) end)
    # All registered: each waits in receive.
    Enum.each(waiters, fn pid ->
      Stream.repeatedly(fn -> Process.info(pid, :status) end)
      |> Enum.find(&(&1 == {:status, :waiting}))
    end)

    Enum.each(waiters, &Process.exit(&1, :kill))
    Process.sleep(100)

    times = Enum.sort(for _ <- 1..200, do: registration_us(socket))
    median = Enum.at(times, 100)

    live = Task.async(fn -> Socket.recv(socket, 5_000) end)
    Process.sleep(50)

    {us, _} =
      :timer.tc(fn ->
        :ok = Socket.send_to(sender, @lo4, port, "for the living")
        assert {:ok, {_, _, "for the living"}} = Task.await(live)
      end)

    IO.puts(
      "\n  after #{@killed} killed waiters: registration median #{median} us, " <>
        "live waiter served in #{div(us, 1000)} ms"
    )

    assert median < 50, inspect(Enum.take(times, 10))
    assert us < 100_000
    Enum.each([socket, sender], &Socket.close/1)
  end
end
