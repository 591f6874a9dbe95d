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

  test "probe: a loopback responder is found, by address and by name" do
    port = responder!()

    for host <- ["127.0.0.1", "localhost"] do
      assert {:ok, lines} = run_task("plpmtud.probe", ["#{host}:#{port}"])
      assert Enum.any?(lines, &(&1 =~ ~r/^path MTU \d+ \(UDP payload \d+\)/))
    end
  end

  test "report: HOST and HOST:PORT work, by name and by address" do
    port = responder!()

    for target <- ["localhost:#{port}", "127.0.0.1:#{port}"] do
      assert {:ok, lines} = run_task("plpmtud.report", [target])
      assert "plpmtud report" in lines
      assert Enum.any?(lines, &(&1 =~ "prober 127.0.0.1: search_complete"))
    end
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
