defmodule PLPMTUD.DfRaceTest do
  # DF-off sends racing each other, normal sends and policy readers on one
  # socket, as a transport sharing one socket across connections does:
  # nobody sees DF off, and the policy set_df/2 chose stays.
  use ExUnit.Case, async: true

  alias PLPMTUD.Socket

  @calls 20_000
  @senders 3
  @lo {127, 0, 0, 1}

  # Runs @senders processes of @calls `fragmentable.()` each, once one
  # process calling `normal.()` and one calling `df.()` in loops are
  # running, until the senders are done. Returns the policies the reader
  # saw other than `:probe`, and its reads.
  defp race(fragmentable, normal, df) do
    parent = self()

    loop = fn loop, fun, acc ->
      receive(do: (:stop -> acc), after: (0 -> loop.(loop, fun, fun.(acc))))
    end

    running = fn fun ->
      fn acc ->
        send(parent, {:running, self()})
        fun.(acc)
      end
    end

    count = fn {wrong, reads} ->
      case df.() do
        {:ok, :probe} -> {wrong, reads + 1}
        other -> {[other | wrong], reads + 1}
      end
    end

    reader =
      spawn_link(fn -> send(parent, {:reads, loop.(loop, count, running.(count).({[], 0}))}) end)

    sender =
      spawn_link(fn ->
        loop.(loop, fn _ -> normal.() end, running.(fn _ -> normal.() end).(nil))
      end)

    assert_receive {:running, ^reader}, 5_000
    assert_receive {:running, ^sender}, 5_000

    senders =
      for _ <- 1..@senders do
        Task.async(fn ->
          for _ <- 1..@calls, do: :ok = fragmentable.()
          :ok
        end)
      end

    Task.await_many(senders, 60_000)
    send(sender, :stop)
    send(reader, :stop)
    assert_receive {:reads, {wrong, reads}}, 5_000
    {wrong, reads}
  end

  defp sink do
    {:ok, sink} = :gen_udp.open(0, [:binary, ip: @lo, active: false])
    {:ok, port} = :inet.port(sink)
    {sink, port}
  end

  test "PLPMTUD.Socket: concurrent send_fragmentable never leaves or shows DF off" do
    {_sink, port} = sink()
    {:ok, s} = Socket.open(0, ip: @lo, df: :probe, active: false, connect: {@lo, port})
    data = :binary.copy(<<1>>, 200)

    {wrong, reads} =
      race(
        fn -> Socket.send_fragmentable(s, data) end,
        fn -> Socket.send(s, data) end,
        fn -> Socket.df(s) end
      )

    assert wrong == [], "#{length(wrong)} of #{reads} reads saw #{inspect(Enum.take(wrong, 1))}"
    assert Socket.df(s) == {:ok, :probe}, "the policy set_df chose"
  end

  test "PLPMTUD.Socket unconnected: send_fragmentable_to races the same way" do
    {_sink, port} = sink()
    {:ok, s} = Socket.open(0, ip: @lo, df: :probe, active: false)
    data = :binary.copy(<<1>>, 200)

    {wrong, reads} =
      race(
        fn -> Socket.send_fragmentable_to(s, @lo, port, data) end,
        fn -> Socket.send_to(s, @lo, port, data) end,
        fn -> Socket.df(s) end
      )

    assert wrong == [], "#{length(wrong)} of #{reads} reads"
    assert Socket.df(s) == {:ok, :probe}
  end

  for backend <- [:inet, :socket] do
    test "facade on gen_udp (#{backend} backend): concurrent send_fragmentable keeps DF" do
      {_sink, port} = sink()
      options = [{:inet_backend, unquote(backend)}, :binary, ip: @lo, active: false]
      {:ok, s} = :gen_udp.open(0, options)
      :ok = :gen_udp.connect(s, @lo, port)
      {:ok, shared} = :gen_udp.open(0, options)
      :ok = :plpmtud_socket.set_df(s, :probe)
      :ok = :plpmtud_socket.set_df(shared, :probe)
      data = :binary.copy(<<1>>, 200)

      {wrong, reads} =
        race(
          fn -> :plpmtud_socket.send_fragmentable(s, data) end,
          fn -> :gen_udp.send(s, data) end,
          fn -> :plpmtud_socket.df(s) end
        )

      assert wrong == [], "#{length(wrong)} of #{reads} reads saw DF off"
      assert :plpmtud_socket.df(s) == {:ok, :probe}, "the policy set_df chose"

      {wrong, _reads} =
        race(
          fn -> :plpmtud_socket.send_fragmentable(shared, {@lo, port}, data) end,
          fn -> :gen_udp.send(shared, @lo, port, data) end,
          fn -> :plpmtud_socket.df(shared) end
        )

      assert wrong == []
      assert :plpmtud_socket.df(shared) == {:ok, :probe}
    end
  end
end
