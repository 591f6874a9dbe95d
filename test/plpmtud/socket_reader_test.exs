defmodule PLPMTUD.SocketReaderTest do
  # The reader process of a socket is tied to its owner as a gen_udp port
  # is: linked (relinked on hand-over, unlinked on close), and outside the
  # opener's application.
  use ExUnit.Case, async: false

  @moduletag :capture_log

  alias PLPMTUD.Socket

  @lo4 {127, 0, 0, 1}

  defmodule App do
    @moduledoc false
    use Application

    # Opens a socket inside the application and hands it to `:to`.
    @impl true
    def start(_type, _args) do
      to = Application.fetch_env!(:plpsock_reader_app, :to)

      Supervisor.start_link(
        [
          {Task,
           fn ->
             {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1})
             :ok = Socket.controlling_process(socket, to)
             send(to, {:socket, socket})
             Process.sleep(:infinity)
           end}
        ],
        strategy: :one_for_one
      )
    end
  end

  # The linked process that runs the reader's loop (waiting a little for
  # one that has just been spawned), or nil.
  defp reader_of(owner, tries \\ 20) do
    {:links, links} = Process.info(owner, :links)

    reader =
      Enum.find(links, fn pid ->
        is_pid(pid) and
          match?(
            {:current_function, {:plpmtud_socket, _, _}},
            Process.info(pid, :current_function)
          )
      end)

    if reader == nil and tries > 0 do
      Process.sleep(5)
      reader_of(owner, tries - 1)
    else
      reader
    end
  end

  test "a killed reader reaches its owner as a killed gen_udp port does: an EXIT, or death" do
    Process.flag(:trap_exit, true)
    {:ok, socket} = Socket.open(0, ip: @lo4)
    reader = reader_of(self())
    assert is_pid(reader)
    Process.exit(reader, :kill)
    assert_receive {:EXIT, ^reader, :killed}, 1_000
    assert %{closed: true} = Socket.stats(socket)

    # An owner that does not trap exits dies with it.
    parent = self()

    owner =
      spawn(fn ->
        {:ok, socket} = Socket.open(0, ip: @lo4)
        send(parent, {:reader, reader_of(self())})
        Process.sleep(:infinity)
        socket
      end)

    ref = Process.monitor(owner)
    assert_receive {:reader, reader}, 1_000
    Process.exit(reader, :kill)
    assert_receive {:DOWN, ^ref, :process, ^owner, :killed}, 1_000
  end

  test "the link follows controlling_process, and a normal close sends no EXIT" do
    Process.flag(:trap_exit, true)
    {:ok, socket} = Socket.open(0, ip: @lo4)
    reader = reader_of(self())
    parent = self()

    new_owner =
      spawn(fn ->
        Process.flag(:trap_exit, true)

        receive do
          {:EXIT, ^reader, reason} -> send(parent, {:new_owner_saw, reason})
        end
      end)

    :ok = Socket.controlling_process(socket, new_owner)
    # The reader relinks on its own schedule; wait until it has.
    Enum.find(1..100, fn _ ->
      Process.sleep(10)
      reader_of(self(), 0) == nil
    end)

    assert reader_of(self(), 0) == nil
    Process.exit(reader, :kill)
    assert_receive {:new_owner_saw, :killed}, 1_000
    refute_receive {:EXIT, ^reader, _}, 100

    {:ok, socket} = Socket.open(0, ip: @lo4)
    reader = reader_of(self())
    :ok = Socket.close(socket)
    ref = Process.monitor(reader)
    assert_receive {:DOWN, ^ref, :process, ^reader, _}, 1_000
    refute_receive {:EXIT, ^reader, _}, 100
  end

  test "an opener that crashes right after handing its socket over leaves it open" do
    parent = self()

    for _ <- 1..50 do
      spawn(fn ->
        {:ok, socket} = Socket.open(0, ip: @lo4)
        :ok = Socket.controlling_process(socket, parent)
        send(parent, {:socket, socket})
        exit(:boom)
      end)

      assert_receive {:socket, socket}, 1_000
      Process.sleep(5)
      assert %{closed: false} = Socket.stats(socket)
      Socket.close(socket)
    end
  end

  test "stopping the application that opened a socket leaves a socket it handed over open" do
    Application.put_env(:plpsock_reader_app, :to, self())

    spec =
      {:application, :plpsock_reader_app,
       [
         description: ~c"test",
         vsn: ~c"0",
         modules: [App],
         registered: [],
         applications: [:kernel, :stdlib],
         mod: {App, []}
       ]}

    :ok = :application.load(spec)
    on_exit(fn -> :application.unload(:plpsock_reader_app) end)
    {:ok, _} = Application.ensure_all_started(:plpsock_reader_app)
    assert_receive {:socket, socket}, 2_000
    :ok = Application.stop(:plpsock_reader_app)
    Process.sleep(50)
    assert %{closed: false} = Socket.stats(socket)
    {:ok, {_, port}} = Socket.sockname(socket)
    {:ok, sender} = Socket.open(0, ip: @lo4)
    :ok = Socket.send_to(sender, @lo4, port, "still open")
    assert_receive {:plpmtud_udp, ^socket, _, _, "still open"}, 1_000
    {:group_leader, leader} = Process.info(reader_of(self()), :group_leader)
    assert leader == Process.whereis(:user)
    Enum.each([socket, sender], &Socket.close/1)
  end
end
