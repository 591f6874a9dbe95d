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
      ~S|{:ok, p} = PLPMTUD.new(); PLPMTUD.connected(p, 0); IO.puts("probe=#{PLPMTUD.next_probe(p)}")|

    {out, status} = run("mix", ["run", "-e", script], app, env)
    assert status == 0, out
    assert out =~ "probe=1038"
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
        ok = plpmtud:connected(H, 0),
        990 = plpmtud:probe_size(H),
        probe = plpmtud:on_send(H, 7, 990, 0),
        {changed, 990} = plpmtud:on_ack(H, 7, 10),
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
end
