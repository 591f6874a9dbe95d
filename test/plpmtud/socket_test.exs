defmodule PLPMTUD.SocketTest do
  use ExUnit.Case, async: true

  import Bitwise, only: [<<<: 2]

  alias PLPMTUD.Socket

  @lo4 {127, 0, 0, 1}
  @lo6 {0, 0, 0, 0, 0, 0, 0, 1}

  defp open!(ip, options \\ []) do
    {:ok, socket} = Socket.open(0, [ip: ip] ++ options)
    on_exit(fn -> Socket.close(socket) end)
    socket
  end

  defp port!(socket) do
    {:ok, {_ip, port}} = Socket.sockname(socket)
    port
  end

  for {family, ip} <- [inet: @lo4, inet6: @lo6] do
    test "send_to and receive in active mode (#{family})" do
      server = open!(unquote(Macro.escape(ip)))
      client = open!(unquote(Macro.escape(ip)))
      assert :ok = Socket.send_to(client, unquote(Macro.escape(ip)), port!(server), "ping")
      assert_receive {:plpmtud_udp, ^server, unquote(Macro.escape(ip)), from_port, "ping"}, 2000
      assert from_port == port!(client)
    end

    test "connected send and path_mtu (#{family})" do
      server = open!(unquote(Macro.escape(ip)), active: false)
      peer = {unquote(Macro.escape(ip)), port!(server)}
      client = open!(unquote(Macro.escape(ip)), connect: peer)
      assert {:ok, ^peer} = Socket.peername(client)
      assert {:ok, mtu} = Socket.path_mtu(client)
      assert mtu >= 1280
      assert :ok = Socket.send(client, :binary.copy(<<7>>, 1200))
      assert {:ok, {_, _, data}} = Socket.recv(server, 2000)
      assert byte_size(data) == 1200
    end
  end

  test "every DF policy is set and read back" do
    socket = open!(@lo4)

    for policy <- [:dont, :want, :do, :probe] do
      assert :ok = Socket.set_df(socket, policy)
      assert {:ok, ^policy} = Socket.df(socket)
    end
  end

  test "active: :once delivers one datagram until re-armed" do
    server = open!(@lo4, active: :once)
    client = open!(@lo4)
    for i <- 1..3, do: Socket.send_to(client, @lo4, port!(server), <<i>>)
    assert_receive {:plpmtud_udp, ^server, _, _, <<1>>}, 2000
    refute_receive {:plpmtud_udp, ^server, _, _, _}, 100
    Socket.set_active(server, :once)
    assert_receive {:plpmtud_udp, ^server, _, _, <<2>>}, 2000
  end

  test "active: n delivers n datagrams then a passive message" do
    server = open!(@lo4, active: 2)
    client = open!(@lo4)
    for i <- 1..3, do: Socket.send_to(client, @lo4, port!(server), <<i>>)
    assert_receive {:plpmtud_udp, ^server, _, _, <<1>>}, 2000
    assert_receive {:plpmtud_udp, ^server, _, _, <<2>>}, 2000
    assert_receive {:plpmtud_udp_passive, ^server}, 2000
    refute_receive {:plpmtud_udp, ^server, _, _, _}, 100
    assert {:ok, {_, _, <<3>>}} = Socket.recv(server, 1000)
  end

  test "passive recv times out, and close wakes a waiting recv" do
    socket = open!(@lo4, active: false)
    assert {:error, :timeout} = Socket.recv(socket, 20)
    task = Task.async(fn -> Socket.recv(socket, :infinity) end)
    Process.sleep(50)
    Socket.close(socket)
    assert {:error, :closed} = Task.await(task, 1000)
  end

  test "processes waiting in recv/2 hold no scheduler: file I/O goes on, and all receive" do
    sockets = for _ <- 1..40, do: open!(@lo4, active: false)

    waiters = for socket <- sockets, do: Task.async(fn -> Socket.recv(socket, :infinity) end)

    Process.sleep(50)
    # prim_file runs on the 10 dirty IO schedulers, which 40 waiting recvs
    # would all hold if they blocked there.
    reader = Task.async(fn -> File.read!("/proc/self/stat") end)
    assert {:ok, _} = Task.yield(reader, 1_000)
    client = open!(@lo4)
    for socket <- sockets, do: Socket.send_to(client, @lo4, port!(socket), "hi")
    assert Enum.all?(Task.await_many(waiters, 2_000), &match?({:ok, {_, _, "hi"}}, &1))
  end

  test "two processes waiting in recv/2 on one socket get one datagram each" do
    server = open!(@lo4, active: false)
    client = open!(@lo4)
    waiters = for _ <- 1..2, do: Task.async(fn -> Socket.recv(server, 2_000) end)
    Process.sleep(50)
    for data <- ["a", "b"], do: Socket.send_to(client, @lo4, port!(server), data)
    got = for {:ok, {_, _, data}} <- Task.await_many(waiters, 3_000), do: data
    assert Enum.sort(got) == ["a", "b"]
  end

  test "a recv/2 waiting when the socket turns active returns einval" do
    server = open!(@lo4, active: false)
    waiter = Task.async(fn -> Socket.recv(server, :infinity) end)
    Process.sleep(50)
    assert :ok = Socket.set_active(server, true)
    assert {:error, :einval} = Task.await(waiter, 1_000)
  end

  test "recv on an active socket is einval, as gen_udp's" do
    socket = open!(@lo4)
    {:ok, udp} = :gen_udp.open(0, active: true)
    assert {:error, :einval} = :gen_udp.recv(udp, 0, 10)
    assert {:error, :einval} = Socket.recv(socket, 10)
    :gen_udp.close(udp)
  end

  test "a peer of the other family is eafnosupport, as gen_udp's" do
    {:ok, udp} = :gen_udp.open(0, [:inet])
    assert {:error, :eafnosupport} = :gen_udp.connect(udp, @lo6, 9)
    assert {:error, :eafnosupport} = Socket.open(0, ip: @lo4, connect: {@lo6, 9})
    :gen_udp.close(udp)
  end

  test "an ICMP port unreachable comes as {:plpmtud_udp_error, socket, :econnrefused} when active" do
    closed = open!(@lo4, active: false)
    {:ok, {_, port}} = Socket.sockname(closed)
    Socket.close(closed)
    socket = open!(@lo4, connect: {@lo4, port})
    assert :ok = Socket.send(socket, "anyone?")
    assert_receive {:plpmtud_udp_error, ^socket, :econnrefused}, 2_000
    assert %{errors_read: 1, errors_dropped: 0} = Socket.stats(socket)
  end

  test "an ICMP port unreachable is counted, not delivered, when passive" do
    closed = open!(@lo4, active: false)
    {:ok, {_, port}} = Socket.sockname(closed)
    Socket.close(closed)
    socket = open!(@lo4, active: false, connect: {@lo4, port})
    assert :ok = Socket.send(socket, "anyone?")
    refute_receive {:plpmtud_udp_error, _, _}, 200
    assert %{errors_dropped: 1} = Socket.stats(socket)
  end

  test "a host name that does not resolve is nxdomain in open/2 and send_to/4" do
    socket = open!(@lo4)
    assert {:error, :nxdomain} = Socket.open(0, connect: {"no-such-host.invalid", 9})
    assert {:error, :nxdomain} = Socket.send_to(socket, "no-such-host.invalid", 9, "x")

    assert {:error, :nxdomain} =
             :gen_udp.send(elem(:gen_udp.open(0), 1), ~c"no-such-host.invalid", 9, "x")

    assert {:ok, server} = Socket.open(0, ip: @lo4, active: true)
    {:ok, {_, port}} = Socket.sockname(server)
    assert :ok = Socket.send_to(socket, "localhost", port, "by name")
    assert_receive {:plpmtud_udp, ^server, @lo4, _, "by name"}, 2_000
  end

  test "a batch is sent in order and counted, across time slices" do
    server = open!(@lo4)
    client = open!(@lo4)
    datagrams = for i <- 1..2000, do: <<i::32, 0::size(1000)-unit(8)>>
    assert {:ok, 2000} = Socket.send_batch(client, datagrams, {@lo4, port!(server)})
    received = receive_numbers(server, [])
    # A burst of 2000 overflows the receiver's buffer; what arrives is in order.
    assert received != [] and received == Enum.sort(received)
    # A batch that fits the buffer arrives whole.
    small = for i <- 1..60, do: <<i::32, 0::size(1000)-unit(8)>>
    assert {:ok, 60} = Socket.send_batch(client, small, {@lo4, port!(server)})
    assert receive_numbers(server, []) == Enum.to_list(1..60)
  end

  defp receive_numbers(socket, acc) do
    receive do
      {:plpmtud_udp, ^socket, _, _, <<i::32, _::binary>>} -> receive_numbers(socket, [i | acc])
    after
      300 -> Enum.reverse(acc)
    end
  end

  test "oversized datagrams return emsgsize with the kernel's MTU" do
    client = open!(@lo4, df: :do)
    server = open!(@lo4)

    assert {:error, {:emsgsize, mtu}} =
             Socket.send_to(client, @lo4, port!(server), :binary.copy(<<0>>, 70_000))

    assert mtu in 65_535..65_536
  end

  test "controlling_process moves delivery; only the owner may hand over" do
    server = open!(@lo4)
    client = open!(@lo4)
    parent = self()

    receiver =
      spawn_link(fn ->
        receive do
          {:plpmtud_udp, _, _, _, data} -> send(parent, {:got, data})
        end
      end)

    assert :ok = Socket.controlling_process(server, receiver)
    assert {:error, :not_owner} = Socket.controlling_process(server, self())
    Socket.send_to(client, @lo4, port!(server), "moved")
    assert_receive {:got, "moved"}, 2000
  end

  test "controlling_process to a dead pid returns :badarg as gen_udp and keeps the socket" do
    dead = spawn(fn -> :ok end)
    ref = Process.monitor(dead)
    assert_receive {:DOWN, ^ref, :process, ^dead, _}, 2000

    {:ok, gen} = :gen_udp.open(0, ip: @lo4)
    gen_udp_reason = :gen_udp.controlling_process(gen, dead)
    :gen_udp.close(gen)

    server = open!(@lo4)
    client = open!(@lo4)
    assert Socket.controlling_process(server, dead) == gen_udp_reason
    assert gen_udp_reason == {:error, :badarg}
    assert %{closed: false} = Socket.stats(server)
    # Still ours: delivery goes on to this process, and it may still hand over.
    assert :ok = Socket.send_to(client, @lo4, port!(server), "still open")
    assert_receive {:plpmtud_udp, ^server, _, _, "still open"}, 2000
    assert :ok = Socket.controlling_process(server, self())
  end

  test "every call on a closed socket returns {:error, :closed}, set_active too" do
    socket = open!(@lo4)
    Socket.close(socket)
    assert {:error, :closed} = Socket.set_active(socket, true)
    assert {:error, :closed} = Socket.set_active(socket, :once)
    assert {:error, :closed} = Socket.send_to(socket, @lo4, 9, "x")
    assert {:error, :closed} = Socket.controlling_process(socket, self())
  end

  test "a missing network namespace is {:error, :enoent}" do
    assert {:error, :enoent} = Socket.open(0, netns: "plpmtud-no-such-namespace")
    assert {:error, :enoent} = Socket.open(0, netns: "/nonexistent/netns/file")
  end

  test "host names in connect:, send_to and send_batch resolve as gen_udp does" do
    server = open!(@lo4, active: false)
    port = port!(server)

    for host <- ["localhost", ~c"localhost", :localhost] do
      {:ok, client} = Socket.open(0, connect: {host, port})
      assert {:ok, {@lo4, ^port}} = Socket.peername(client)
      assert :ok = Socket.send(client, "by name")
      assert {:ok, {@lo4, _, "by name"}} = Socket.recv(server, 2000)
      Socket.close(client)
    end

    client = open!(@lo4)
    assert :ok = Socket.send_to(client, "localhost", port, "send_to")
    assert {:ok, {_, _, "send_to"}} = Socket.recv(server, 2000)
    assert {:ok, 1} = Socket.send_batch(client, ["batch"], {~c"localhost", port})
    assert {:ok, {_, _, "batch"}} = Socket.recv(server, 2000)

    # Names that do not resolve are the resolver's error, in the caller, which lives on.
    assert {:error, :nxdomain} = Socket.open(0, connect: {"no-such-host.invalid", 4000})
    assert {:error, :einval} = Socket.open(0, connect: {[1 | 2], 4000})
    assert {:error, :nxdomain} = Socket.send_to(client, "no-such-host.invalid", 9, "x")
    assert {:error, 0, :nxdomain} = Socket.send_batch(client, ["x"], {"no-such-host.invalid", 9})
    assert {:error, :nxdomain} = Socket.open(0, family: :inet6, connect: {"localhost.invalid", 9})
  end

  test "the socket closes when its owner exits" do
    parent = self()

    owner =
      spawn(fn ->
        {:ok, socket} = Socket.open(0, ip: @lo4)
        send(parent, {:socket, socket})
        Process.sleep(:infinity)
      end)

    assert_receive {:socket, socket}, 2000
    assert %{closed: false} = Socket.stats(socket)
    Process.exit(owner, :kill)
    Process.sleep(50)
    assert %{closed: true} = Socket.stats(socket)
    assert {:error, :closed} = Socket.send_to(socket, @lo4, 9, "x")
  end

  test "attach sets DF on a gen_udp socket whose owner still gets the datagrams" do
    {:ok, gen} = :gen_udp.open(0, [:binary, ip: @lo4, active: true])
    {:ok, gen_port} = :inet.port(gen)
    assert {:ok, attached} = Socket.attach(gen, df: :do)
    assert {:ok, :do} = Socket.df(attached)
    # The raw option gen_udp would read: IP_MTU_DISCOVER (10) at level IPPROTO_IP (0).
    assert {:ok, [{:raw, 0, 10, <<2::native-32>>}]} = :inet.getopts(gen, [{:raw, 0, 10, 4}])

    client = open!(@lo4)
    Socket.send_to(client, @lo4, gen_port, "to gen_udp")
    assert_receive {:udp, ^gen, _, _, "to gen_udp"}, 2000
    assert :ok = Socket.send_to(attached, @lo4, port!(client), "from attached")
    assert_receive {:plpmtud_udp, ^client, _, ^gen_port, "from attached"}, 2000
    Socket.close(attached)
    assert :ok = :gen_udp.send(gen, @lo4, port!(client), "gen_udp still open")
    assert_receive {:plpmtud_udp, ^client, _, _, "gen_udp still open"}, 2000
  end

  test "bad arguments raise or return errors and leave the VM up" do
    socket = open!(@lo4)
    assert_raise ArgumentError, fn -> Socket.open(0, bogus: 1) end
    assert_raise ArgumentError, fn -> Socket.open(0, ip: :nope) end
    assert_raise ArgumentError, fn -> Socket.open(70_000) end
    assert_raise ArgumentError, fn -> Socket.open(0, df: :sometimes) end
    assert_raise ArgumentError, fn -> Socket.open(0, active: -1) end

    for bad <- [0, -1, 1.5, :big, 1 <<< 60] do
      assert_raise ArgumentError, ~r/backlog/, fn -> Socket.open(0, backlog: bad) end
    end

    assert_raise ArgumentError, fn -> Socket.send(make_ref(), "x") end
    assert_raise ArgumentError, fn -> Socket.send_to(socket, {1, 2, 3}, 9, "x") end
    assert_raise ArgumentError, fn -> Socket.send_to(socket, @lo4, -1, "x") end
    assert_raise ArgumentError, fn -> Socket.send_batch(socket, [:not_binary], {@lo4, 9}) end
    assert_raise ArgumentError, fn -> Socket.recv(socket, :soon) end
    assert_raise ArgumentError, fn -> Socket.attach(:not_a_socket) end
    assert {:error, :eafnosupport} = Socket.open(0, ip: @lo4, connect: {@lo6, 9})
    {:ok, prober} = PLPMTUD.new()
    assert_raise ArgumentError, fn -> Socket.close(prober) end
    assert {:error, :enotconn} = Socket.send(socket, "x") |> normalize_notconn()
    assert :ok = Socket.send_to(socket, @lo4, 9, "still works")
  end

  test "a 1 MiB host name, UTF-8 or not, is einval in send_to, send_batch and open, as a malformed name" do
    socket = open!(@lo4)

    for host <- [
          :binary.copy(<<255>>, 1 <<< 20),
          :binary.copy("a", 1 <<< 20),
          ~c"a" ++ List.duplicate(?a, 1 <<< 20)
        ] do
      assert {:error, :einval} = Socket.send_to(socket, host, 9, "x")
      assert {:error, 0, :einval} = Socket.send_batch(socket, ["x"], {host, 9})
      assert {:error, :einval} = Socket.open(0, connect: {host, 9})
      assert {:error, :einval} = Socket.resolve(host, :inet6)
    end

    assert :ok = Socket.send_to(socket, @lo4, 9, "still works")
  end

  test "recv/2 takes timeouts of 2^32 ms and more, as :infinity" do
    server = open!(@lo4, active: false)
    client = open!(@lo4)
    {:ok, {_, port}} = Socket.sockname(server)

    for timeout <- [1 <<< 32, (1 <<< 64) - 1, 1 <<< 100] do
      waiter = Task.async(fn -> Socket.recv(server, timeout) end)
      Process.sleep(20)
      :ok = Socket.send_to(client, @lo4, port, "late")
      assert {:ok, {@lo4, _, "late"}} = Task.await(waiter)
    end
  end

  test "batch: true delivers the datagrams of a readiness in one message, in order" do
    server = open!(@lo4, batch: true)
    client = open!(@lo4)
    datagrams = for i <- 1..40, do: <<i::32, 0::size(1000)-unit(8)>>
    assert {:ok, 40} = Socket.send_batch(client, datagrams, {@lo4, port!(server)})
    client_port = port!(client)
    received = receive_batches(server, [])

    assert Enum.map(received, fn {@lo4, ^client_port, <<i::32, _::binary>>} -> i end) ==
             Enum.to_list(1..40)
  end

  defp receive_batches(socket, acc) do
    receive do
      {:plpmtud_udp_batch, ^socket, items} when items != [] ->
        receive_batches(socket, acc ++ items)
    after
      300 -> acc
    end
  end

  test "active: n counts datagrams across recvmmsg batches" do
    server = open!(@lo4, active: 5)
    client = open!(@lo4)
    datagrams = for i <- 1..8, do: <<i>>
    assert {:ok, 8} = Socket.send_batch(client, datagrams, {@lo4, port!(server)})
    for i <- 1..5, do: assert_receive({:plpmtud_udp, ^server, _, _, <<^i>>}, 2000)
    assert_receive {:plpmtud_udp_passive, ^server}, 2000
    refute_receive {:plpmtud_udp, ^server, _, _, _}, 100
    for i <- 6..8, do: assert({:ok, {_, _, <<^i>>}} = Socket.recv(server, 1000))
  end

  test "close while datagrams are arriving releases the socket and stops delivery" do
    for _ <- 1..20 do
      server = open!(@lo4)
      client = open!(@lo4)
      port = port!(server)
      sender = Task.async(fn -> for _ <- 1..200, do: Socket.send_to(client, @lo4, port, "x") end)
      Process.sleep(1)
      assert :ok = Socket.close(server)
      Task.await(sender)
      assert %{closed: true} = Socket.stats(server)
      flush_datagrams(server)
      refute_receive {:plpmtud_udp, ^server, _, _, _}, 20
      # The port is free again.
      assert {:ok, again} = Socket.open(port, ip: @lo4)
      Socket.close(again)
    end
  end

  defp flush_datagrams(socket) do
    receive do
      {:plpmtud_udp, ^socket, _, _, _} -> flush_datagrams(socket)
    after
      0 -> :ok
    end
  end

  defp normalize_notconn({:error, reason}) when reason in [:enotconn, :edestaddrreq],
    do: {:error, :enotconn}

  defp normalize_notconn(other), do: other
end
