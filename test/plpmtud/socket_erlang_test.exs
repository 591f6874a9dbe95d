defmodule PLPMTUD.SocketErlangTest do
  @moduledoc """
  `:plpmtud_socket` as an Erlang caller uses it: map and proplist options,
  `undefined` for "not given", the gen_udp DF helpers on both kinds of
  socket, and badarg errors that say which argument was wrong.
  """
  use ExUnit.Case, async: true

  @lo4 {127, 0, 0, 1}

  test "options as a map or a proplist, undefined as not given; messages as documented" do
    {:ok, a} = :plpmtud_socket.open(0, %{ip: @lo4, active: true, netns: :undefined})
    {:ok, b} = :plpmtud_socket.open(0, [{:ip, @lo4}, {:active, false}, {:backlog, :undefined}])
    {:ok, {_, port_a}} = :plpmtud_socket.sockname(a)
    {:ok, {_, port_b}} = :plpmtud_socket.sockname(b)

    assert :ok = :plpmtud_socket.send_to(b, ~c"localhost", port_a, [?h, "i"])
    assert_receive {:plpmtud_udp, ^a, @lo4, ^port_b, "hi"}, 2_000
    assert {:ok, 2} = :plpmtud_socket.send_batch(b, ["x", "y"], {@lo4, port_a})
    assert_receive {:plpmtud_udp, ^a, _, _, "x"}, 2_000
    assert_receive {:plpmtud_udp, ^a, _, _, "y"}, 2_000

    assert :ok = :plpmtud_socket.send_to(a, @lo4, port_b, "to passive")
    assert {:ok, {@lo4, ^port_a, "to passive"}} = :plpmtud_socket.recv(b, 2_000)
    assert {:error, :timeout} = :plpmtud_socket.recv(b, 0)
    assert {:error, :einval} = :plpmtud_socket.recv(a, 0)

    assert :ok = :plpmtud_socket.set_active(b, 1)
    assert :ok = :plpmtud_socket.send_to(a, @lo4, port_b, "once")
    assert_receive {:plpmtud_udp, ^b, _, _, "once"}, 2_000
    assert_receive {:plpmtud_udp_passive, ^b}, 2_000
    assert %{datagrams_delivered: 3, closed: false} = :plpmtud_socket.stats(a)
    Enum.each([a, b], &:plpmtud_socket.close/1)
    assert %{closed: true} = :plpmtud_socket.stats(a)
    assert {:error, :closed} = :plpmtud_socket.send(a, "x")
  end

  test "a batch NIF call walks only what it sends; send_batch checks the whole list first" do
    {:ok, sink} = :plpmtud_socket.open(0, ip: @lo4, active: false, recbuf: 4096)
    {:ok, {_, port}} = :plpmtud_socket.sockname(sink)
    {:ok, s} = :plpmtud_socket.open(0, connect: {@lo4, port})
    # 200 000 datagrams, then an improper tail: one NIF call sends what its
    # ~100 us budget allows and returns without reaching the tail (before,
    # it decoded the whole list on every call: O(n) unbudgeted work).
    long = Enum.reduce(1..200_000, :not_a_list, fn _, tail -> ["d" | tail] end)
    {us, answer} = :timer.tc(fn -> :plpmtud_nif.socket_send(s, nil, long, false) end)
    assert {:partial, sent} = answer
    assert sent > 0 and sent < 200_000
    assert us < 50_000, "one call took #{us} us"
    # Through the module, the same list raises before anything is sent.
    {:ok, sink2} = :plpmtud_socket.open(0, ip: @lo4, active: false)
    {:ok, {_, port2}} = :plpmtud_socket.sockname(sink2)

    assert_raise ArgumentError, ~r/proper list of binaries/, fn ->
      :plpmtud_socket.send_batch(s, long, {@lo4, port2})
    end

    assert {:error, :timeout} = :plpmtud_socket.recv(sink2, 200)
    assert {:ok, 1} = :plpmtud_socket.send_batch(s, ["proper"], {@lo4, port2})
    assert {:ok, {@lo4, _, "proper"}} = :plpmtud_socket.recv(sink2, 2_000)
    Enum.each([s, sink, sink2], &:plpmtud_socket.close/1)
  end

  test "df, set_df, kernel_mtu and send_fragmentable take a plpmtud_socket and a gen_udp socket alike" do
    {:ok, server} = :gen_udp.open(0, [:binary, ip: @lo4, active: false])
    {:ok, port} = :inet.port(server)
    {:ok, gen} = :gen_udp.open(0, [:binary, ip: @lo4, active: false])
    :ok = :gen_udp.connect(gen, @lo4, port)
    {:ok, plp} = :plpmtud_socket.open(0, connect: {@lo4, port}, df: :do)
    big = :binary.copy(<<7>>, 3_000)

    for s <- [gen, plp] do
      assert :ok = :plpmtud_socket.set_df(s, :probe)
      assert {:ok, :probe} = :plpmtud_socket.df(s)
      assert {:ok, mtu} = :plpmtud_socket.kernel_mtu(s)
      assert {:ok, ^mtu} = :plpmtud_socket.kernel_mtu(s, {@lo4, port})
      assert :ok = :plpmtud_socket.send_fragmentable(s, big)
      assert {:ok, {_, _, ^big}} = :gen_udp.recv(server, 0, 1_000)
      assert :ok = :plpmtud_socket.send_fragmentable(s, {@lo4, port}, ["!", big])
      assert {:ok, {_, _, "!" <> ^big}} = :gen_udp.recv(server, 0, 1_000)
      assert {:ok, :probe} = :plpmtud_socket.df(s), "the policy is put back"
    end

    # A host name resolves on a plpmtud_socket (its family).
    assert {:ok, _} = :plpmtud_socket.kernel_mtu(plp, {"localhost", port})
    # The DF check of the Erlang facade reads a plpmtud_socket too.
    {:ok, h} = :plpmtud.new(%{})
    assert [{:search_started, _} | _] = :plpmtud.connected(h, 0, %{socket: plp})
    :plpmtud_socket.close(plp)
    :gen_udp.close(gen)
  end

  test "bad arguments raise badarg with a message saying what was wrong" do
    for {call, message} <- [
          {fn -> :plpmtud_socket.open(0, %{bogus: 1}) end, ~r/unknown option bogus/},
          {fn -> :plpmtud_socket.open(0, [:binary]) end, ~r/\{Key, Value\} pairs/},
          {fn -> :plpmtud_socket.open(0, :nope) end, ~r/list of \{Key, Value\} or a map/},
          {fn -> :plpmtud_socket.open(0, transport: :tcp) end, ~r/transport must be/},
          {fn -> :plpmtud_socket.open(0, family: :inet7) end, ~r/family must be/},
          {fn -> :plpmtud_socket.set_df(make_ref(), :sometimes) end, ~r/df must be/},
          {fn -> :plpmtud_socket.df(:not_a_socket) end, ~r/expected a plpmtud_socket/},
          {fn -> :plpmtud_socket.kernel_mtu(make_ref(), :nowhere) end, ~r/\{Host, Port\}/},
          {fn -> :plpmtud_socket.send_batch(make_ref(), "x") end, ~r/list of binaries/},
          {fn -> :plpmtud_socket.send(make_ref(), [:bad]) end, ~r/iodata/},
          {fn -> :plpmtud_socket.recv(make_ref(), -1) end, ~r/timeout must be/}
        ] do
      assert_raise ArgumentError, message, call
      # Erlang's own formatting shows the same message.
      try do
        call.()
      catch
        :error, :badarg ->
          [{:plpmtud_socket, _, _, info} | _] = __STACKTRACE__
          assert %{general: text} = :plpmtud_socket.format_error(:badarg, __STACKTRACE__)
          assert text =~ message
          assert %{module: :plpmtud_socket} = info[:error_info]
      end
    end
  end
end
