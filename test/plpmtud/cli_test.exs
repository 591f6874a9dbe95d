defmodule PLPMTUD.CLITest do
  # Not async: the tasks print through the global Mix.shell.
  use ExUnit.Case, async: false

  alias PLPMTUD.{Responder, Socket}

  setup do
    Mix.shell(Mix.Shell.Process)
    on_exit(fn -> Mix.shell(Mix.Shell.IO) end)
  end

  # Runs a task in this process: {:ok, printed lines} or {:error, message, printed lines}.
  defp run_task(task, args) do
    Mix.Task.rerun(task, args)
    {:ok, printed()}
  rescue
    e in Mix.Error -> {:error, e.message, printed()}
  end

  defp printed(acc \\ []) do
    receive do
      {:mix_shell, _, [line]} -> printed([line | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  defp responder! do
    {:ok, responder} = Responder.start_link(port: 0, ip: {127, 0, 0, 1})
    {_ip, port} = Responder.address(responder)
    port
  end

  test "probe: a path where no probe is answered fails with one line" do
    # A bound socket that never answers: probes are silently lost.
    {:ok, silent} = :gen_udp.open(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(silent)

    assert {:error, message, _lines} =
             run_task("plpmtud.probe", ["127.0.0.1:#{port}", "--timeout", "60000"])

    assert message =~ ~r/^probe failed: none of \d+ probes was answered/
    refute message =~ "\n"
  end

  test "probe: a wait over 2 s shows progress every 2 s" do
    {:ok, silent} = :gen_udp.open(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(silent)

    assert {:error, _message, lines} =
             run_task("plpmtud.probe", ["127.0.0.1:#{port}", "--timeout", "4500"])

    progress = Enum.filter(lines, &(&1 =~ ~r/^  still probing: \d+ probes?, current PLPMTU \d+$/))
    assert length(progress) == 2, inspect(lines)
  end

  test "probe: nothing listening on the port fails at once with one line" do
    {:ok, closed} = :gen_udp.open(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(closed)
    :gen_udp.close(closed)

    assert {:error, "probe failed: connection refused: is a responder running there?", _} =
             run_task("plpmtud.probe", ["127.0.0.1:#{port}"])
  end

  test "probe: IPv6 loopback is labelled IPv6, written [::1]:PORT, and capped by the ceiling" do
    {:ok, responder} = Responder.start_link(port: 0, ip: {0, 0, 0, 0, 0, 0, 0, 1})
    {_ip, port} = Responder.address(responder)

    for target <- ["[::1]:#{port}"] do
      assert {:ok, [header | lines]} = run_task("plpmtud.probe", [target])
      assert header == "plpmtud probe [::1]:#{port} (udp, IPv6)"

      assert Enum.any?(
               lines,
               &(&1 =~
                   ~r/^path MTU at least \d+ \(the ceiling, 1500, stopped the search; raise --ceiling to look further\) in \d+ probes, \d+ ms$/)
             )

      refute Enum.any?(lines, &(&1 =~ "UDP payload"))
    end
  end

  test "probe: one size is its 3 copies, \"3 probes\"" do
    port = responder!()

    assert {:ok, lines} =
             run_task("plpmtud.probe", [
               "127.0.0.1:#{port}",
               "--floor",
               "1414",
               "--ceiling",
               "1416"
             ])

    assert Enum.any?(lines, &(&1 =~ ~r/ in 3 probes, \d+ ms$/)), inspect(lines)
  end

  test "probe: a loopback responder is found, by address and by name" do
    port = responder!()

    for host <- ["127.0.0.1", "localhost"] do
      assert {:ok, [header | lines]} = run_task("plpmtud.probe", ["#{host}:#{port}"])
      assert header == "plpmtud probe 127.0.0.1:#{port} (udp, IPv4)"
      # Loopback's MTU is 65536: the ceiling, not the path, ends the search.
      assert Enum.any?(lines, &(&1 =~ ~r/^path MTU at least 1500 \(the ceiling, 1500,/))
    end
  end

  test "report: HOST and HOST:PORT work, by name and by address" do
    port = responder!()

    for target <- ["localhost:#{port}", "127.0.0.1:#{port}"] do
      assert {:ok, lines} = run_task("plpmtud.report", [target])
      assert "plpmtud report" in lines

      assert Enum.any?(
               lines,
               &(&1 =~
                   ~r/^  127\.0\.0\.1:#{port}  IPv4  path MTU at least \d+ bytes \(payload \d+ bytes\), search complete at the ceiling \(1500 bytes\)/)
             )
    end
  end

  test "report: one line per host, IPv4 and IPv6, human units, each host counted once" do
    port = responder!()
    {:ok, responder6} = Responder.start_link(port: 0, ip: {0, 0, 0, 0, 0, 0, 0, 1})
    {_ip, port6} = Responder.address(responder6)

    for {ip, _} <- PLPMTUD.Cache.entries(), do: PLPMTUD.Cache.delete(ip)
    # The same host twice (by name and by address) and an IPv6 one.
    targets = ["127.0.0.1:#{port}", "localhost:#{port}", "[::1]:#{port6}"]
    assert {:ok, ["plpmtud report" | lines]} = run_task("plpmtud.report", targets)

    assert [_] = Enum.filter(lines, &String.starts_with?(&1, "  127.0.0.1:#{port}  IPv4  "))
    assert [_] = Enum.filter(lines, &String.starts_with?(&1, "  [::1]:#{port6}  IPv6  "))
    assert [distribution] = Enum.filter(lines, &(&1 =~ "MTU distribution"))
    hosts = for [n] <- Regex.scan(~r/(\d+) hosts?/, distribution, capture: :all_but_first), do: n
    assert Enum.sum(Enum.map(hosts, &String.to_integer/1)) == 2, distribution
    refute Enum.any?(lines, &(&1 =~ ~r/%\{|=>/)), "raw maps in: #{inspect(lines)}"
    assert Enum.any?(lines, &(&1 =~ ~r/^  cache: \d+ entr(y|ies), /))
  end

  test "report: a host that does not resolve or cannot be probed fails with one line" do
    assert {:error, "plpmtud.report: cannot resolve no-such-host.invalid: " <> _, _} =
             run_task("plpmtud.report", ["no-such-host.invalid"])

    assert {:error, "plpmtud.report: bad port: 99999", _} =
             run_task("plpmtud.report", ["localhost:99999"])

    # A namespace that does not exist: the prober's socket cannot open.
    assert {:error, "plpmtud.report: 127.0.0.1: cannot probe: " <> reason, _} =
             run_task("plpmtud.report", ["127.0.0.1", "--netns", "plpmtud-no-such-namespace"])

    assert reason =~ "enoent"
  end

  test "responder: a port in use is one line naming the port and the reason" do
    {:ok, taken} = Socket.open(0, ip: {0, 0, 0, 0})
    {:ok, {_, port}} = Socket.sockname(taken)

    assert {:error, message, _} = run_task("plpmtud.responder", ["--port", "#{port}"])
    assert message == "plpmtud.responder: port #{port}: address already in use (eaddrinuse)"
    # This process was not taken down by the failed responder's exit.
    assert Process.alive?(self())
  end

  test "every task refuses unknown options and bad values, naming them" do
    for task <- ~w(plpmtud.probe plpmtud.report plpmtud.responder plpmtud.transfer) do
      assert {:error, message, _} = run_task(task, ["127.0.0.1", "--bogus-option"])
      assert message == "#{task}: unknown option --bogus-option"
    end

    assert {:error, "plpmtud.responder: invalid value for --port: http", _} =
             run_task("plpmtud.responder", ["--port", "http"])

    assert {:error, "plpmtud.report: --mode must be udp or icmp, got: tcp", _} =
             run_task("plpmtud.report", ["--mode", "tcp"])
  end

  test "a refused option exits the mix command with status 1 and one line" do
    {out, status} =
      System.cmd("mix", ["plpmtud.report", "--bogus-option"],
        stderr_to_stdout: true,
        env: [{"MIX_ENV", "test"}]
      )

    assert status == 1
    assert out =~ "** (Mix) plpmtud.report: unknown option --bogus-option"
  end
end
