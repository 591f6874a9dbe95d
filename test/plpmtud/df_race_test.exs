defmodule PLPMTUD.DfRaceTest do
  # DF-off sends racing each other, normal sends and policy readers on one
  # socket, as a transport sharing one socket across connections does:
  # nobody sees DF off, and the policy set_df/2 chose stays.
  use ExUnit.Case, async: true

  alias PLPMTUD.Socket

  @calls 20_000
  @senders 3
  @lo {127, 0, 0, 1}

  # Runs @senders processes of @calls `fragmentable.()` each, one process
  # calling `normal.()` and one calling `df.()` until they are done.
  # Returns the policies the reader saw other than `:probe`, and its reads.
  defp race(fragmentable, normal, df) do
    parent = self()

    loop = fn loop, fun, acc ->
      receive(do: (:stop -> acc), after: (0 -> loop.(loop, fun, fun.(acc))))
    end

    reader =
      spawn_link(fn ->
        count = fn {wrong, reads} ->
          case df.() do
            {:ok, :probe} -> {wrong, reads + 1}
            other -> {[other | wrong], reads + 1}
          end
        end

        send(parent, {:reads, loop.(loop, count, {[], 0})})
      end)

    sender = spawn_link(fn -> loop.(loop, fn _ -> normal.() end, nil) end)

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

    assert Socket.df(s) == {:ok, :probe}, "the policy set_df chose"
    assert wrong == [], "#{length(wrong)} of #{reads} reads saw #{inspect(Enum.take(wrong, 1))}"
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

    assert Socket.df(s) == {:ok, :probe}
    assert wrong == [], "#{length(wrong)} of #{reads} reads"
  end

  for backend <- [:inet, :socket] do
    test "facade on gen_udp (#{backend} backend): concurrent send_fragmentable keeps DF" do
      {_sink, port} = sink()
      options = [{:inet_backend, unquote(backend)}, :binary, ip: @lo, active: false]
      {:ok, s} = :gen_udp.open(0, options)
      :ok = :gen_udp.connect(s, @lo, port)
      {:ok, shared} = :gen_udp.open(0, options)
      :ok = :plpmtud.set_df(s, :probe)
      :ok = :plpmtud.set_df(shared, :probe)
      data = :binary.copy(<<1>>, 200)

      {wrong, reads} =
        race(
          fn -> :plpmtud.send_fragmentable(s, data) end,
          fn -> :gen_udp.send(s, data) end,
          fn -> :plpmtud.df(s) end
        )

      assert :plpmtud.df(s) == {:ok, :probe}, "the policy set_df chose"
      assert wrong == [], "#{length(wrong)} of #{reads} reads saw DF off"

      {wrong, _reads} =
        race(
          fn -> :plpmtud.send_fragmentable(shared, {@lo, port}, data) end,
          fn -> :gen_udp.send(shared, @lo, port, data) end,
          fn -> :plpmtud.df(shared) end
        )

      assert :plpmtud.df(shared) == {:ok, :probe}
      assert wrong == []
    end
  end
end
