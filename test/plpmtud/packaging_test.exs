defmodule PLPMTUD.PackagingTest do
  use ExUnit.Case, async: false

  @moduletag :packaging
  @moduletag timeout: 900_000

  @root Path.expand("../..", __DIR__)

  setup do
    dir = Path.join(System.tmp_dir!(), "plpmtud_pkg_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  # The project's sources, as a dependency would fetch them.
  defp copy_sources(to) do
    File.mkdir_p!(to)

    for entry <- ~w(mix.exs .formatter.exs Cargo.toml Cargo.lock lib src native scripts) do
      File.cp_r!(Path.join(@root, entry), Path.join(to, entry))
    end

    File.rm_rf!(Path.join(to, "native/target"))
  end

  defp run(cmd, args, dir, env \\ []) do
    System.cmd(cmd, args, cd: dir, stderr_to_stdout: true, env: env)
  end

  test "a Mix project depending on plpmtud from deps/ builds the NIF from clean and uses it",
       %{dir: dir} do
    app = Path.join(dir, "app")
    copy_sources(Path.join(app, "deps/plpmtud"))

    File.write!(Path.join(app, "mix.exs"), """
    defmodule PkgApp.MixProject do
      use Mix.Project
      def project, do: [app: :pkg_app, version: "0.1.0", deps: [{:plpmtud, path: "deps/plpmtud"}]]
    end
    """)

    # A target dir of its own (kept between runs under the project's target/).
    env = [
      {"MIX_ENV", "dev"},
      {"CARGO_TARGET_DIR", Path.join(@root, "target/packaging-test")},
      {"HEX_OFFLINE", "1"}
    ]

    script =
      ~S|{:ok, p} = PLPMTUD.new(); PLPMTUD.connected(p, 0); IO.puts("probe=#{PLPMTUD.probe_size(p)}")|

    {out, status} = run("mix", ["run", "-e", script], app, env)
    assert status == 0, out
    assert out =~ "probe=1010"
    assert File.exists?(Path.join(app, "deps/plpmtud/priv/native/plpmtud_nif.so"))
  end

  test "plain erl calls the plpmtud facade with the build's ebin on the path", %{dir: dir} do
    ebin = Path.join(@root, "_build/test/lib/plpmtud/ebin")
    elixir_ebin = :elixir |> :code.lib_dir() |> Path.join("ebin")

    File.write!(Path.join(dir, "aiutp_like.erl"), ~S"""
    -module(aiutp_like).
    -export([main/0]).
    main() ->
        {ok, H} = plpmtud:new(#{packet_overhead => 28}),
        [{search_started, 1452}, {probe_due, 990}] = plpmtud:connected(H, 0),
        990 = plpmtud:probe_size(H),
        probe = plpmtud:on_send(H, 7, 990, 0),
        [{probe_acked, 7, 990, 10}, {mtu_changed, 528, 990, probe_acked} | _] =
            plpmtud:on_ack(H, 7, 990, 10),
        io:format("packet_size=~p~n", [plpmtud:packet_size(H)]).
    """)

    {out, 0} = run("erlc", ["aiutp_like.erl"], dir)
    assert out == ""

    args = [
      "-noshell",
      "-pa",
      ebin,
      "-pa",
      elixir_ebin,
      "-pa",
      dir,
      "-eval",
      "aiutp_like:main(), halt()."
    ]

    {out, status} = run("erl", args, dir)
    assert status == 0, out
    assert out =~ "packet_size=990"
  end

  # A throwaway rebar3 application that depends on this checkout through
  # _checkouts (a symlink: cargo finds its build in the checkout's target/),
  # built with Debian's rebar3 offline. Returns its code path: every ebin
  # rebar3 wrote (checkout dependencies are built in _build/default/checkouts).
  defp rebar3_consumer!(dir) do
    app = Path.join(dir, "consumer")
    File.mkdir_p!(Path.join(app, "src"))
    File.mkdir_p!(Path.join(app, "_checkouts"))
    File.ln_s!(@root, Path.join(app, "_checkouts/plpmtud"))

    File.write!(Path.join(app, "rebar.config"), """
    {erl_opts, [debug_info]}.
    {deps, [plpmtud]}.
    """)

    File.write!(Path.join(app, "src/consumer.app.src"), """
    {application, consumer,
     [{description, "plpmtud from rebar3"}, {vsn, "0.1.0"}, {registered, []},
      {applications, [kernel, stdlib, plpmtud]}, {env, []}]}.
    """)

    File.write!(Path.join(app, "src/consumer.erl"), ~S"""
    -module(consumer).
    -export([main/0]).
    main() ->
        io:format("elixir_kernel=~p~n", [code:which('Elixir.Kernel')]),
        case plpmtud:new(#{packet_overhead => 28}) of
            {ok, H} ->
                io:format("connected=~0p~n", [plpmtud:connected(H, 0)]),
                Size = plpmtud:probe_size(H),
                io:format("probe_size=~p~n", [Size]),
                io:format("on_send=~p~n", [plpmtud:on_send(H, 7, Size, 0)]),
                io:format("on_ack=~0p~n", [plpmtud:on_ack(H, 7, Size, 10)]),
                io:format("packet_size=~p~n", [plpmtud:packet_size(H)]);
            {error, {nif_not_loaded, Path, Reason}} ->
                io:format("nif_not_loaded=~ts~n", [Path]),
                io:format("reason=~p~n", [Reason])
        end,
        Elixir = [M || {M, _} <- code:all_loaded(), lists:prefix("Elixir.", atom_to_list(M))],
        io:format("elixir_modules=~p~n", [Elixir]).
    """)

    env = [
      {"HEX_OFFLINE", "1"},
      {"REBAR_OFFLINE", "1"},
      {"REBAR_CACHE_DIR", Path.join(dir, "rebar3_cache")},
      {"CARGO_TARGET_DIR", System.get_env("CARGO_TARGET_DIR") || Path.join(@root, "target")}
    ]

    {out, status} = run("timeout", ["-k", "5", "600", "rebar3", "compile"], app, env)
    assert status == 0, out
    assert out =~ "Compiling plpmtud"

    built = Path.join(app, "_build/default/checkouts/plpmtud")
    assert File.regular?(Path.join(built, "priv/native/plpmtud_nif.so")), out
    assert File.regular?(Path.join(built, "ebin/plpmtud_nif.beam")), out
    assert File.regular?(Path.join(app, "_build/default/lib/consumer/ebin/consumer.beam")), out

    Path.wildcard(Path.join(app, "_build/default/{lib,checkouts}/*/ebin"))
  end

  # Plain erl (no Elixir anywhere on its code path) runs consumer:main/0.
  defp run_consumer(code_path, dir) do
    eval =
      "try consumer:main() of _ -> halt(0) " <>
        "catch C:E:S -> io:format(\"crash=~p~n\", [{C, E, S}]), halt(1) end."

    args = ["-k", "5", "60", "erl", "-noshell"] ++ Enum.flat_map(code_path, &["-pa", &1])
    env = for var <- ~w(ERL_LIBS ERL_FLAGS ERL_AFLAGS ERL_ZFLAGS), do: {var, nil}
    run("timeout", args ++ ["-eval", eval], dir, env)
  end

  @tag :rebar3
  test "a rebar3 application depending on plpmtud through _checkouts uses it from plain erl",
       %{dir: dir} do
    code_path = rebar3_consumer!(dir)
    {out, status} = run_consumer(code_path, dir)
    assert status == 0, out
    assert out =~ "elixir_kernel=non_existing\n"
    assert out =~ "connected=[{search_started,1452},{probe_due,990}]\n"
    assert out =~ "probe_size=990\n"
    assert out =~ "on_send=probe\n"

    assert out =~
             "on_ack=[{probe_acked,7,990,10},{mtu_changed,528,990,probe_acked},{probe_due,1221}]\n"

    assert out =~ "packet_size=990\n"
    assert out =~ "elixir_modules=[]\n"
  end

  @tag :rebar3
  test "without its NIF library plpmtud:new/1 says which file it tried", %{dir: dir} do
    code_path = rebar3_consumer!(dir)

    # The same build, with plpmtud's ebin in an application directory of its
    # own that has no priv/native/plpmtud_nif.so.
    bare = Path.join(dir, "bare/plpmtud")
    File.mkdir_p!(bare)

    File.cp_r!(
      Path.join(dir, "consumer/_build/default/checkouts/plpmtud/ebin"),
      Path.join(bare, "ebin")
    )

    code_path = [Path.join(bare, "ebin") | Enum.reject(code_path, &(&1 =~ "checkouts/plpmtud"))]

    {out, status} = run_consumer(code_path, dir)
    assert status == 0, out
    assert out =~ "elixir_kernel=non_existing\n"
    assert out =~ "nif_not_loaded=#{Path.join(bare, "priv/native/plpmtud_nif.so")}\n"
    assert out =~ "reason={load_failed,"
    assert out =~ "elixir_modules=[]\n"
  end
end
