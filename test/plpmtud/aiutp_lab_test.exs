defmodule PLPMTUD.AiutpLabTest do
  @moduledoc """
  The real aiutp (`../shared/aiutp`, copied and built offline with `erlc`)
  across the namespace lab: a client VM in the client namespace sends
  800 kB to a server VM in the server namespace, patched with
  `examples/aiutp/plpmtud.patch` (discovery on) on six paths, and the
  unmodified copy on four of them as a reference. All transfers run at
  once (each on a lab of its own): aiutp's throughput is bounded by its
  window growth, not by the CPU.

  Patched: byte-identical completion on every path, the prober's PLPMTU at
  the end at most the path's (and within 16 bytes of it on a stable path),
  and on the stable paths, where every loss is a probe's, and on the drop
  with ICMP, where every data loss is a packet above the kernel's new MTU,
  no window cut. Unmodified: completes
  where the path carries its 1296-byte payloads (or the kernel fragments
  them after ICMP), never on the 1280 black hole.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.Test.{AiutpLab, Lab}

  @moduletag :netns
  @moduletag timeout: 120_000

  @fixture AiutpLab.fixture()
  @bytes 800_000

  # {name, variant, mtus, drop (ms after the client starts, new MTU), path MTU at the end}
  @paths [
    {:clean, "icmp", "1500,1500,1500", nil, 1500},
    {:icmp, "icmp", "1500,1370,1350", nil, 1350},
    {:black_hole, "blackhole", "1500,1370,1350", nil, 1350},
    {:bh1280, "blackhole", "1500,1370,1280", nil, 1280},
    {:drop_bh, "blackhole", "1500,1370,1350", {5_000, 1280}, 1280},
    {:drop_icmp, "icmp", "1500,1370,1350", {5_000, 1280}, 1280}
  ]
  @references [:clean, :icmp, :drop_icmp, :bh1280]

  unless File.dir?(@fixture) do
    @moduletag skip:
                 "the aiutp fixture is missing: set AIUTP_FIXTURE or put it at ../shared/aiutp (beside this checkout or its origin)"
  end

  setup do
    dir = Path.join(System.tmp_dir!(), "aiutp_lab_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  # aiutp decays an idle connection's window to 1296 bytes (one of its own
  # packets); once discovery raised the packet size, a window check against
  # the bigger packet found it full for good and the connection never sent
  # again (review finding). No lab needed: aiutp_net:is_full/2 on a record.
  test "an idle connection's decayed window still lets one packet of the size in use go",
       %{dir: dir} do
    paths = AiutpLab.build!(dir, [:pat])
    check = Path.join(dir, "idle_check.erl")

    File.write!(check, """
    -module(idle_check).
    -include("aiutp.hrl").
    -export([run/0]).
    run() ->
        {ok, H} = plpmtud:new(\#{packet_overhead => 28, mtu_initial => 1500}),
        PCB = #aiutp_pcb{pmtud = \#{h => H}, max_window = ?PACKET_SIZE,
                         max_window_user = 4194304, cur_window = 0, time = 0},
        {Idle, _} = aiutp_net:is_full(-1, PCB),
        {Zero, _} = aiutp_net:is_full(-1, PCB#aiutp_pcb{max_window_user = 0}),
        io:format("~p.~n", [{plpmtud:packet_size(H), Idle, Zero}]),
        ok = application:set_env(aiutp, mtu_discovery_enabled, true),
        Sizes = [begin
                     ok = application:set_env(aiutp, plpmtud, Env),
                     New = #aiutp_pcb{socket = {undefined, {{127, 0, 0, 1}, 9}}},
                     aiutp_pmtud:packet_size(aiutp_pmtud:init(New))
                 end || Env <- [\#{}, \#{mtu_floor => 1400}, \#{mtu_discovery_enabled => false}]],
        io:format("~p.~n", [{sizes, Sizes}]).
    """)

    include = Path.join(dir, "aiutp_pat/include")
    {out, 0} = System.cmd("erlc", ["-I", include, "-o", dir, check], stderr_to_stdout: true)
    refute out =~ "rror", out

    args = ["-noshell", "-pa", dir, "-pa", paths.pat, "-pa", paths.plp, "-eval"]
    {out, 0} = System.cmd("erl", args ++ ["idle_check:run(), halt()."], stderr_to_stdout: true)
    # 1452 bytes in use; the 1296-byte window is not full; the peer's zero
    # window still is.
    assert out =~ "{1452,false,true}.", out
    # A new connection's data starts at 1280 (1232-byte payloads), at a
    # user's floor above that, and at aiutp's own 1296 with discovery off.
    assert out =~ "{sizes,[1232,1352,1296]}.", out
  end

  test "aiutp patched with plpmtud completes on every path, the unmodified one where it can",
       %{dir: dir} do
    paths = AiutpLab.build!(dir, [:ref, :pat])

    runs =
      for {{name, variant, mtus, drop, path_mtu}, i} <- Enum.with_index(@paths),
          build <- [:pat, :ref],
          build == :pat or name in @references do
        ns = Lab.up!("aiu#{i}#{build}", variant, ["--mtus", mtus])
        # The unmodified aiutp dies on the 1280 black hole: no need to wait long.
        max_ms = if build == :ref and name == :bh1280, do: 20_000, else: 75_000
        {name, build, ns, drop, path_mtu, max_ms}
      end

    results =
      runs
      |> Task.async_stream(
        fn {name, build, ns, drop, path_mtu, max_ms} ->
          {name, build, path_mtu, AiutpLab.transfer(ns, build, paths, drop, @bytes, max_ms)}
        end,
        timeout: 90_000,
        max_concurrency: length(runs)
      )
      |> Enum.map(fn {:ok, r} -> r end)

    for {name, build, _mtu, r} <- results do
      IO.puts(
        "aiutp #{build} #{name}: completed=#{r.completed} ms=#{Map.get(r, :ms)}" <>
          " mtu=#{Map.get(r, :mtu)} counters=#{inspect(Map.get(r, :counters))}"
      )
    end

    times =
      for {name, build, _mtu, %{completed: true} = r} <- results,
          into: %{},
          do: {{name, build}, r.ms}

    for name <- @references,
        is_integer(times[{name, :pat}]) and is_integer(times[{name, :ref}]) do
      IO.puts(
        "aiutp #{name}: patched / unmodified = #{Float.round(times[{name, :pat}] / times[{name, :ref}], 2)}"
      )
    end

    for {name, build, path_mtu, r} <- results do
      shown = "#{build} #{name}: " <> inspect(Map.drop(r, [:output])) <> "\n" <> r.output

      case {build, name} do
        {:ref, :bh1280} ->
          refute r.completed, shown

        {:ref, _} ->
          assert r.completed and r.identical, shown

        {:pat, _} ->
          assert r.completed and r.identical, shown
          assert r.patched, shown
          # The MTU fell before the transfer ended (else the run says nothing of it).
          if name in [:drop_bh, :drop_icmp], do: assert(r.dropped, shown)
          assert r.mtu <= path_mtu, shown

          if name in [:clean, :icmp, :black_hole, :bh1280],
            do: assert(r.mtu >= path_mtu - 16, shown)

          # Data starts at 1280 and is acknowledged there: a search that
          # ended below it lost that packet for its size.
          if name == :bh1280, do: assert(r.mtu == 1280, shown)

          assert r.stats.probes_sent > 0, shown
          # On the stable paths every loss is a probe's (the lab drops
          # nothing else): a window cut there would be one caused by probes.
          # That includes the 1280 black hole: data starts at 1280, so no
          # data packet is lost for its size there. On the drop with ICMP
          # every data loss is a packet above the kernel's new MTU (resent
          # at once, without an RTO): no cut either.
          if name in [:clean, :icmp, :black_hole, :bh1280, :drop_icmp] do
            assert Map.get(r.counters, :window_cuts, 0) == 0, shown
          end

          if name in [:icmp, :black_hole], do: assert(r.counters.probes_lost > 0, shown)
      end
    end
  end
end
