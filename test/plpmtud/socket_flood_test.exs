defmodule PLPMTUD.SocketFloodTest do
  # A remote sender floods a socket whose owner does not read: the owner's
  # mailbox stays under the socket's backlog bound (in bytes), whatever the
  # active mode, and delivery resumes once the owner reads.
  use ExUnit.Case, async: false

  alias PLPMTUD.Socket
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  # The default backlog bound, and what one report is charged at least.
  @backlog 4 * 1024 * 1024
  @report_cost 512
  # Allowance for allocator noise in the binary memory.
  @slack 256 * 1024

  setup_all do
    %{forge: Lab.build_forge_ptb!()}
  end

  # An owner that reads nothing until told to drain its mailbox and hand
  # the socket back, or to hand it over and stay stuck; killed when the
  # test exits (with what it holds).
  defp stuck_owner do
    owner = spawn(fn -> stuck() end)
    on_exit(fn -> Process.exit(owner, :kill) end)
    owner
  end

  defp stuck do
    receive do
      {:drain, from, socket} ->
        drained = drain(0)
        :ok = Socket.controlling_process(socket, from)
        send(from, {:drained, drained})

      {:give, from, socket} ->
        :ok = Socket.controlling_process(socket, from)
        send(from, :given)

        receive do
          :never -> :ok
        end
    end
  end

  defp drain(n) do
    receive do
      {:plpmtud_ptb, _, _} -> drain(n + 1)
      _ -> drain(n)
    after
      0 -> n
    end
  end

  defp usage(owner) do
    {:memory, memory} = Process.info(owner, :memory)
    {:message_queue_len, queued} = Process.info(owner, :message_queue_len)
    {memory, queued}
  end

  # Forged Fragmentation-Needed quoting the socket's own flow towards 64
  # destinations (more than the report table holds), for `ms`.
  defp flood(forge, ns, port, ms) do
    deadline = System.monotonic_time(:millisecond) + ms

    Task.async(fn ->
      Stream.iterate(1, &(&1 + 1))
      |> Enum.reduce_while(0, fn i, sent ->
        if System.monotonic_time(:millisecond) >= deadline do
          {:halt, sent}
        else
          args = ["127.0.0.1", "#{1000 + rem(i, 50)}", "flow", "5000"]
          flow = ["127.0.0.1", "#{port}", "127.0.0.2", "#{rem(i, 64) + 1}"]
          {_, 0} = System.cmd("ip", ["netns", "exec", ns, forge | args ++ flow])
          {:cont, sent + 5000}
        end
      end)
    end)
  end

  for active <- [false, :once, true] do
    test "forged ICMP against an active: #{inspect(active)} socket whose owner never reads: the mailbox stays under the backlog bound",
         %{forge: forge} do
      ns = Lab.loopback_ns!("plpflood")
      {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1}, active: unquote(active), netns: ns)
      on_exit(fn -> Socket.close(socket) end)
      {:ok, {_, port}} = Socket.sockname(socket)
      owner = stuck_owner()
      :ok = Socket.controlling_process(socket, owner)
      {memory0, 0} = usage(owner)
      binary0 = :erlang.memory(:binary)

      task = flood(forge, ns, port, 5_000)

      samples =
        for _ <- 1..10 do
          Process.sleep(500)
          {memory, queued} = usage(owner)
          {memory - memory0 + max(:erlang.memory(:binary) - binary0, 0), queued}
        end

      sent = Task.await(task, 30_000)
      Process.sleep(200)
      {grown, queued} = Enum.max(samples)
      stats = Socket.stats(socket)

      IO.puts(
        "\n  active: #{inspect(unquote(active))}: #{sent} forged PTBs, owner at most #{queued} messages, " <>
          "+#{grown} bytes; delivered #{stats.errors_read}, coalesced or refused #{stats[:reports_dropped]}"
      )

      assert Enum.all?(samples, fn {bytes, _} -> bytes <= @backlog + @slack end), inspect(samples)
      assert queued <= div(@backlog, @report_cost), inspect(samples)
      assert stats.errors_read > 0
      assert stats.reports_dropped > 0

      # Once the owner reads, reports come through again.
      send(owner, {:drain, self(), socket})
      assert_receive {:drained, drained}, 5_000
      assert drained > 0

      flush = fn flush ->
        receive do: ({:plpmtud_ptb, _, _} -> flush.(flush)), after: (0 -> :ok)
      end

      Process.sleep(300)
      flush.(flush)
      args = ["127.0.0.1", "1234", "flow", "1", "127.0.0.1", "#{port}", "127.0.0.2", "99"]
      {_, 0} = System.cmd("ip", ["netns", "exec", ns, forge | args])
      assert_receive {:plpmtud_ptb, ^socket, %{mtu: 1234}}, 2_000
    end
  end

  # Large datagrams from a second socket in the namespace, for `ms`.
  defp blast(ns, port, ms) do
    deadline = System.monotonic_time(:millisecond) + ms
    {:ok, sender} = Socket.open(0, ip: {127, 0, 0, 1}, active: false, netns: ns)
    datagrams = List.duplicate(:binary.copy(<<7>>, 60_000), 16)

    Task.async(fn ->
      Stream.repeatedly(fn -> Socket.send_batch(sender, datagrams, {{127, 0, 0, 1}, port}) end)
      |> Stream.take_while(fn _ -> System.monotonic_time(:millisecond) < deadline end)
      |> Stream.run()

      Socket.close(sender)
    end)
  end

  for {batch, backlog} <- [{true, nil}, {false, 1024 * 1024}] do
    test "a flood of 60 KB datagrams to a batch: #{batch} socket whose owner never reads: BEAM memory stays under the backlog bound (#{backlog || "default"})" do
      ns = Lab.loopback_ns!("plpblast")
      options = [ip: {127, 0, 0, 1}, batch: unquote(batch), recbuf: 4_000_000, netns: ns]

      {:ok, socket} =
        Socket.open(0, unquote(if backlog, do: [backlog: backlog], else: []) ++ options)

      on_exit(fn -> Socket.close(socket) end)
      bound = unquote(backlog || 4 * 1024 * 1024)
      assert Socket.stats(socket).backlog == bound
      {:ok, {_, port}} = Socket.sockname(socket)
      owner = stuck_owner()
      :ok = Socket.controlling_process(socket, owner)
      :erlang.garbage_collect()
      total0 = :erlang.memory(:total)
      # What may grow: the bound, one datagram over it, and noise.
      limit = bound + 65_536 + 1024 * 1024
      task = blast(ns, port, 3_000)

      # Sampled every 100 ms; stops early (and fails) past the limit.
      samples =
        Enum.reduce_while(1..30, [], fn _, samples ->
          Process.sleep(100)
          grown = :erlang.memory(:total) - total0
          if grown > limit, do: {:halt, [grown | samples]}, else: {:cont, [grown | samples]}
        end)

      Task.shutdown(task, :brutal_kill)
      {:message_queue_len, queued} = Process.info(owner, :message_queue_len)
      delivered = Socket.stats(socket).datagrams_delivered

      IO.puts(
        "\n  batch: #{unquote(batch)}, backlog #{bound}: #{delivered} datagrams delivered, " <>
          "owner at #{queued} messages, BEAM memory at most +#{Enum.max(samples)} bytes"
      )

      assert Enum.max(samples) <= limit, inspect(Enum.reverse(samples))
      assert delivered * 60_000 >= div(bound, 2)
    end
  end

  test "controlling_process while the reader waits on a stuck owner: the new owner gets datagrams at once" do
    ns = Lab.loopback_ns!("plphand")
    {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1}, netns: ns, recbuf: 1_000_000)
    on_exit(fn -> Socket.close(socket) end)
    {:ok, {_, port}} = Socket.sockname(socket)
    {:ok, sender} = Socket.open(0, ip: {127, 0, 0, 1}, active: false, netns: ns)
    owner = stuck_owner()
    :ok = Socket.controlling_process(socket, owner)
    datagrams = List.duplicate(:binary.copy(<<1>>, 100), 64)
    deadline = System.monotonic_time(:millisecond) + 8_000

    flood =
      Task.async(fn ->
        Stream.repeatedly(fn -> Socket.send_batch(sender, datagrams, {{127, 0, 0, 1}, port}) end)
        |> Stream.take_while(fn _ -> System.monotonic_time(:millisecond) < deadline end)
        |> Stream.run()
      end)

    # The reader pauses: the stuck owner's queue stops growing.
    paused =
      Enum.reduce_while(1..50, 0, fn _, last ->
        Process.sleep(100)
        {:message_queue_len, n} = Process.info(owner, :message_queue_len)
        if n > 8192 and n == last, do: {:halt, n}, else: {:cont, n}
      end)

    assert {:message_queue_len, ^paused} = Process.info(owner, :message_queue_len)
    send(owner, {:give, self(), socket})
    assert_receive :given, 5_000
    ms = 500
    got = count_datagrams(socket, 0, System.monotonic_time(:millisecond) + ms)
    Task.shutdown(flood, :brutal_kill)
    Socket.close(sender)

    IO.puts(
      "\n  hand-over from an owner holding #{paused} messages: the new owner got #{got} datagrams in #{ms} ms"
    )

    assert got > 1000
  end

  defp count_datagrams(socket, n, deadline) do
    receive do
      {:plpmtud_udp, ^socket, _, _, _} -> count_datagrams(socket, n + 1, deadline)
    after
      max(deadline - System.monotonic_time(:millisecond), 0) -> n
    end
  end

  test "readers paused on stuck owners cost next to nothing" do
    ns = Lab.loopback_ns!("plppause")
    {:ok, sender} = Socket.open(0, ip: {127, 0, 0, 1}, active: false, netns: ns)
    datagrams = List.duplicate("0123456789abcdef", 64)

    readers =
      for _ <- 1..10 do
        known = MapSet.new(Process.list())
        {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1}, netns: ns)
        on_exit(fn -> Socket.close(socket) end)
        [reader] = Enum.reject(Process.list(), &MapSet.member?(known, &1))
        {:ok, {_, port}} = Socket.sockname(socket)
        owner = stuck_owner()
        :ok = Socket.controlling_process(socket, owner)
        fill_until_paused(sender, datagrams, port, owner, -1, 0)
        reader
      end

    Process.sleep(1_000)
    reductions = fn -> Enum.sum(Enum.map(readers, &elem(Process.info(&1, :reductions), 1))) end
    before = reductions.()
    Process.sleep(2_000)
    per_reader = div(reductions.() - before, 2 * length(readers))
    IO.puts("\n  a paused reader: #{per_reader} reductions a second")
    assert per_reader < 1_000
  end

  # Sends small datagrams until the owner's queue stops growing above the
  # old pause threshold (8192 messages): the reader is paused.
  defp fill_until_paused(sender, datagrams, port, owner, last, same) do
    for _ <- 1..4, do: Socket.send_batch(sender, datagrams, {{127, 0, 0, 1}, port})
    Process.sleep(3)
    {:message_queue_len, queued} = Process.info(owner, :message_queue_len)

    cond do
      queued > 8192 and queued == last and same >= 20 -> :ok
      queued == last -> fill_until_paused(sender, datagrams, port, owner, queued, same + 1)
      true -> fill_until_paused(sender, datagrams, port, owner, queued, 0)
    end
  end

  test "a passive socket's owner that reads with recv/2 and leaves its reports unread still gets datagrams under a forged-ICMP flood",
       %{forge: forge} do
    ns = Lab.loopback_ns!("plprecv")
    {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1}, active: false, netns: ns)
    on_exit(fn -> Socket.close(socket) end)
    {:ok, {_, port}} = Socket.sockname(socket)
    {:ok, sender} = Socket.open(0, ip: {127, 0, 0, 1}, active: false, netns: ns)
    parent = self()

    owner =
      spawn(fn ->
        receive do
          :go -> :ok
        end

        Stream.repeatedly(fn -> Socket.recv(socket, 10_000) end)
        |> Enum.each(fn
          {:ok, {_, _, data}} -> send(parent, {:got, data})
          # A forged ICMP error is also pending on the socket (sk_err), which
          # one recvfrom reports: read on.
          {:error, _} -> :ok
        end)
      end)

    :ok = Socket.controlling_process(socket, owner)
    send(owner, :go)
    task = flood(forge, ns, port, 3_000)
    Process.sleep(2_000)
    {:message_queue_len, queued} = Process.info(owner, :message_queue_len)
    assert queued > 7_000

    for i <- 1..5 do
      {us, :ok} =
        :timer.tc(fn ->
          :ok = Socket.send_to(sender, {127, 0, 0, 1}, port, "datagram #{i}")
          assert_receive {:got, "datagram " <> _}, 1_000
          :ok
        end)

      assert us < 500_000
    end

    Task.await(task, 30_000)
    Process.exit(owner, :kill)
  end
end
