defmodule PLPMTUD.SocketLeakTest do
  # Not async: it counts the VM's descriptors and threads.
  use ExUnit.Case, async: false

  alias PLPMTUD.Socket

  @lo4 {127, 0, 0, 1}

  test "close/1 releases the descriptor at once; no descriptor or thread is left after 10 000 cycles" do
    fds = fn -> length(File.ls!("/proc/self/fd")) end
    threads = fn -> length(File.ls!("/proc/self/task")) end
    # Warm up (scheduler-local buffers, atoms), then count.
    for _ <- 1..10, do: Socket.open(0, ip: @lo4) |> elem(1) |> Socket.close()
    {fds_before, threads_before} = {fds.(), threads.()}
    {:ok, one} = Socket.open(0, ip: @lo4)
    assert fds.() == fds_before + 1
    Socket.close(one)
    assert fds.() == fds_before

    for i <- 1..10_000 do
      {:ok, s} = Socket.open(0, ip: @lo4, active: rem(i, 2) == 0)
      :ok = Socket.close(s)
    end

    assert fds.() == fds_before
    assert threads.() == threads_before
  end

  test "the socket closes when its owner exits, and its descriptor with it" do
    fds = fn -> length(File.ls!("/proc/self/fd")) end
    before = fds.()
    parent = self()

    owner =
      spawn(fn ->
        {:ok, socket} = Socket.open(0, ip: @lo4)
        send(parent, {:socket, socket})
        Process.sleep(:infinity)
      end)

    assert_receive {:socket, socket}, 2000
    assert fds.() == before + 1
    Process.exit(owner, :kill)
    Process.sleep(50)
    assert %{closed: true} = Socket.stats(socket)
    assert fds.() == before
  end

  test "a socket whose reader process is killed closes (and frees its descriptor)" do
    fds = fn -> length(File.ls!("/proc/self/fd")) end
    before = fds.()
    known = MapSet.new(Process.list())
    # The reader is linked to its owner, as a gen_udp port is.
    Process.flag(:trap_exit, true)
    {:ok, socket} = Socket.open(0, ip: @lo4)
    [reader] = Enum.reject(Process.list(), &MapSet.member?(known, &1))
    Process.exit(reader, :kill)
    assert_receive {:EXIT, ^reader, :killed}
    Process.sleep(50)
    assert %{closed: true} = Socket.stats(socket)
    assert fds.() == before
  end
end
