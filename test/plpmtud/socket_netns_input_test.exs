defmodule PLPMTUD.SocketNetnsInputTest do
  # What `netns:` accepts: a plain name or an absolute path to a namespace;
  # nothing given there can hold a scheduler.
  use ExUnit.Case, async: false

  alias PLPMTUD.Socket

  setup do
    dir = Path.join(System.tmp_dir!(), "plpmtud_netns_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  # Sends the longest gap between 10 ms timer ticks to `parent` on :stop.
  defp ticker(parent, last, gap) do
    receive do
      :stop -> send(parent, {:gap, gap})
    after
      10 ->
        now = System.monotonic_time(:millisecond)
        ticker(parent, now, max(gap, now - last))
    end
  end

  test "a FIFO given as netns is refused at once (einval) while timers keep firing",
       %{dir: dir} do
    fifo = Path.join(dir, "fifo")
    {_, 0} = System.cmd("mkfifo", [fifo])
    # A writer after 3 s, for code that would block opening the FIFO (gone after 6 s).
    writer = "exec 2>/dev/null; sleep 3; : > '#{fifo}'"

    Port.open({:spawn_executable, System.find_executable("timeout")},
      args: ["6", "sh", "-c", writer]
    )

    parent = self()
    ticker = spawn(fn -> ticker(parent, System.monotonic_time(:millisecond), 0) end)
    Process.sleep(50)
    {us, result} = :timer.tc(fn -> Socket.open(0, netns: fifo) end)
    send(ticker, :stop)
    assert_receive {:gap, gap}, 10_000

    IO.puts(
      "\n  netns: a FIFO: #{inspect(result)} in #{div(us, 1000)} ms, longest timer gap #{gap} ms"
    )

    assert result == {:error, :einval}
    assert us < 500_000
    assert gap < 200
  end

  test "a regular file, a directory and /dev/null are not namespaces", %{dir: dir} do
    file = Path.join(dir, "file")
    File.write!(file, "not a namespace")

    for path <- [file, dir, "/dev/null"] do
      assert {:error, :einval} = Socket.open(0, netns: path)
    end
  end

  test "netns names with a path in them are refused with a clear error" do
    long = String.duplicate("n", 256)

    for bad <- [
          "../../x",
          "..",
          ".",
          "a/b",
          "",
          "x" <> <<0>> <> "y",
          "/run/netns/x\0",
          long,
          :name,
          ~c"x"
        ] do
      assert_raise ArgumentError, ~r/netns must be a namespace name/, fn ->
        Socket.open(0, netns: bad)
      end
    end
  end
end
