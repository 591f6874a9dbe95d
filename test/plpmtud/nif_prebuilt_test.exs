defmodule PLPMTUD.NifPrebuiltTest do
  # The prebuilt-library path of scripts/build-nif (rebar3's pre-hook, and
  # Mix's compiler) in a copy of the sources: the host's NIF packed with
  # scripts/package-nif, served from 127.0.0.1 by inets' httpd, with no cargo
  # (or a fake one that says it ran). Never touches the repo's priv/.
  use ExUnit.Case, async: false

  @moduletag timeout: 120_000

  @root Path.expand("../..", __DIR__)
  @name_re ~r/^([0-9a-f]{64})  (libplpmtud_nif-v[^ ]+-nif-([0-9.]+)-([^ ]+)\.so\.tar\.gz)$/m

  setup_all do
    tmp = Path.join(System.tmp_dir!(), "plpmtud_prebuilt_#{System.unique_integer([:positive])}")
    # An application directory named plpmtud: its ebin finds its priv/.
    checkout = Path.join(tmp, "plpmtud")
    File.mkdir_p!(Path.join(checkout, "ebin"))
    on_exit(fn -> File.rm_rf!(tmp) end)

    for entry <- ~w(mix.exs Cargo.toml Cargo.lock src scripts native) do
      File.cp_r!(Path.join(@root, entry), Path.join(checkout, entry))
    end

    File.rm_rf!(Path.join(checkout, "priv"))

    for mod <- [:plpmtud, :plpmtud_nif] do
      File.cp!(:code.which(mod), Path.join(checkout, "ebin/#{mod}.beam"))
    end

    # The library this VM loaded, packed for the host.
    lib = Path.join(:code.priv_dir(:plpmtud), "native/plpmtud_nif.so")
    checksums = Path.join(checkout, "native/plpmtud_nif/checksums.txt")
    good = Path.join(tmp, "www/good")

    {out, 0} =
      System.cmd(
        "bash",
        [Path.join(checkout, "scripts/package-nif"), "--lib", lib, "--out", good],
        stderr_to_stdout: true,
        env: [{"ESCRIPT", escript()}]
      )

    [line, sha, name, nif, _target] = Regex.run(@name_re, out)
    assert nif == "2.15"
    assert File.read!(checksums) =~ line <> "\n"
    assert sha == hash(File.read!(Path.join(good, name)))

    # Listed, never served: a NIF version above any runtime's and one below
    # the crate's; fetch must pick the 2.15 library between them.
    File.write!(checksums, [
      File.read!(checksums),
      "#{String.duplicate("a", 64)}  #{String.replace(name, "-nif-2.15-", "-nif-99.0-")}\n",
      "#{String.duplicate("b", 64)}  #{String.replace(name, "-nif-2.15-", "-nif-2.14-")}\n"
    ])

    # The same name, a well-formed archive holding another library.
    bad = Path.join(tmp, "www/bad")
    File.mkdir_p!(bad)
    tampered = :binary.replace(File.read!(lib), "plpmtud", "PLPMTUD")
    member = String.replace_suffix(name, ".tar.gz", "")
    :ok = :erl_tar.create(~c"#{bad}/#{name}", [{~c"#{member}", tampered}], [:compressed])

    {:ok, _} = Application.ensure_all_started(:inets)

    {:ok, httpd} =
      :inets.start(:httpd,
        port: 0,
        bind_address: {127, 0, 0, 1},
        server_name: ~c"localhost",
        server_root: ~c"#{tmp}",
        document_root: ~c"#{tmp}/www"
      )

    on_exit(fn -> :inets.stop(:httpd, httpd) end)
    port = :httpd.info(httpd)[:port]

    %{
      tmp: tmp,
      checkout: checkout,
      lib: lib,
      sha: sha,
      name: name,
      url: "http://127.0.0.1:#{port}"
    }
  end

  setup %{checkout: checkout, tmp: tmp} do
    File.rm_rf!(Path.join(checkout, "priv"))
    marker = Path.join(tmp, "cargo_ran_#{System.unique_integer([:positive])}")
    fake = marker <> ".sh"
    File.write!(fake, "#!/bin/sh\necho \"$@\" > '#{marker}'\nexit 1\n")
    File.chmod!(fake, 0o755)
    %{marker: marker, fake_cargo: fake, dest: Path.join(checkout, "priv/native/plpmtud_nif.so")}
  end

  defp hash(bin), do: :crypto.hash(:sha256, bin) |> Base.encode16(case: :lower)

  defp escript, do: Path.join([:code.root_dir(), "bin", "escript"])

  # Runs scripts/build-nif of the copy: cargo is `cargo` (a path), none by
  # default; returns the output, the exit status and the time taken in ms.
  defp build_nif(ctx, env) do
    base = [
      {"CARGO", Path.join(ctx.tmp, "no-cargo")},
      {"CARGO_HOME", Path.join(ctx.tmp, "no-cargo-home")},
      {"ESCRIPT", escript()},
      {"PLPMTUD_BUILD_FROM_SOURCE", nil},
      {"PLPMTUD_SKIP_CARGO", nil},
      {"PLPMTUD_NIF_TARGET", nil},
      {"PLPMTUD_NIF_TIMEOUT", nil}
    ]

    env = Map.merge(Map.new(base), Map.new(env)) |> Map.to_list()

    started = System.monotonic_time(:millisecond)

    {out, status} =
      System.cmd(
        "timeout",
        ["-k", "5", "60", "bash", Path.join(ctx.checkout, "scripts/build-nif")],
        env: env,
        stderr_to_stdout: true
      )

    {out, status, System.monotonic_time(:millisecond) - started}
  end

  # A TCP listener that never accepts: a connection completes in its
  # backlog and is never answered.
  defp silent_listener do
    {:ok, listen} = :gen_tcp.listen(0, ip: {127, 0, 0, 1}, backlog: 8)
    {:ok, port} = :inet.port(listen)
    {listen, "http://127.0.0.1:#{port}"}
  end

  defp connected?(listen) do
    case :gen_tcp.accept(listen, 0) do
      {:ok, socket} -> :gen_tcp.close(socket) == :ok
      {:error, :timeout} -> false
    end
  end

  defp nothing_installed?(dest), do: not File.exists?(dest) and not File.exists?(dest <> ".tmp")

  test "without cargo, build-nif and Mix's compiler fetch the listed library, check it and install it; it loads",
       ctx do
    {out, 0, _} = build_nif(ctx, [{"PLPMTUD_NIF_URL", ctx.url <> "/good"}])
    assert out =~ "fetching #{ctx.url}/good/#{ctx.name} (at most 60 s)"
    assert out =~ "(sha256 verified)"
    assert File.read!(ctx.dest) == File.read!(ctx.lib)

    # The installed library loads (plain erl, the copy as the application).
    {out, 0} =
      System.cmd("erl", [
        "-noshell",
        "-pa",
        Path.join(ctx.checkout, "ebin"),
        "-eval",
        ~S|io:format("status=~p version=~s~n", [plpmtud_nif:status(), plpmtud_nif:core_version()]), halt().|
      ])

    assert out =~ "status=ok version=0.1.0"

    # Mix: the compiler defined in mix.exs runs the same script.
    File.rm_rf!(Path.join(ctx.checkout, "priv"))

    {out, 0} =
      System.cmd("mix", ["compile.plpmtud_cargo"],
        cd: ctx.checkout,
        stderr_to_stdout: true,
        env: [
          {"MIX_ENV", "dev"},
          {"HEX_OFFLINE", "1"},
          {"CARGO", Path.join(ctx.tmp, "no-cargo")},
          {"PLPMTUD_NIF_URL", ctx.url <> "/good"},
          # `make test` sets it for the project's own build.
          {"PLPMTUD_BUILD_FROM_SOURCE", nil}
        ]
      )

    assert out =~ "(sha256 verified)"
    assert File.read!(ctx.dest) == File.read!(ctx.lib)
  end

  test "a tampered artifact is refused, nothing is installed; with cargo, the source build follows",
       ctx do
    url = ctx.url <> "/bad"
    {out, 1, _} = build_nif(ctx, [{"PLPMTUD_NIF_URL", url}])
    assert out =~ "REFUSED #{url}/#{ctx.name}: its sha256 is "
    assert out =~ "checksums.txt lists #{ctx.sha}; nothing installed"
    assert out =~ "no verified prebuilt library and no cargo"
    assert out =~ "PLPMTUD_SKIP_CARGO=1"
    assert nothing_installed?(ctx.dest)

    {out, 1, _} = build_nif(ctx, [{"PLPMTUD_NIF_URL", url}, {"CARGO", ctx.fake_cargo}])
    assert out =~ "REFUSED"
    assert out =~ "building from source with #{ctx.fake_cargo}"
    assert File.read!(ctx.marker) == "build --release -p plpmtud_nif\n"
    assert nothing_installed?(ctx.dest)
  end

  test "PLPMTUD_BUILD_FROM_SOURCE=1 runs cargo and never connects", ctx do
    {listen, url} = silent_listener()

    {out, 1, _} =
      build_nif(ctx, [
        {"PLPMTUD_NIF_URL", url},
        {"PLPMTUD_BUILD_FROM_SOURCE", "1"},
        {"CARGO", ctx.fake_cargo}
      ])

    assert out =~ "PLPMTUD_BUILD_FROM_SOURCE is set"
    refute out =~ "fetching"
    assert File.read!(ctx.marker) == "build --release -p plpmtud_nif\n"
    refute connected?(listen)
    assert nothing_installed?(ctx.dest)
  end

  test "a system with no library listed builds from source and never connects", ctx do
    {listen, url} = silent_listener()

    {out, 1, _} =
      build_nif(ctx, [
        {"PLPMTUD_NIF_URL", url},
        {"PLPMTUD_NIF_TARGET", "riscv64gc-unknown-linux-gnu"},
        {"CARGO", ctx.fake_cargo}
      ])

    assert out =~ "no prebuilt library listed for plpmtud 0.1.0 on riscv64gc-unknown-linux-gnu"
    assert File.exists?(ctx.marker)
    refute connected?(listen)

    {out, 1, _} =
      build_nif(ctx, [
        {"PLPMTUD_NIF_URL", url},
        {"PLPMTUD_NIF_TARGET", "riscv64gc-unknown-linux-gnu"}
      ])

    assert out =~ "no-cargo not found and no prebuilt library for this system: install Rust"
    refute connected?(listen)
  end

  test "a server that never answers fails within PLPMTUD_NIF_TIMEOUT, then cargo or a clear failure",
       ctx do
    {listen, url} = silent_listener()
    env = [{"PLPMTUD_NIF_URL", url}, {"PLPMTUD_NIF_TIMEOUT", "2"}]

    {out, 1, ms} = build_nif(ctx, env)
    assert out =~ "could not fetch #{url}/#{ctx.name}: timed out after 2 s; nothing installed"
    assert out =~ "no verified prebuilt library and no cargo"
    assert ms in 2_000..8_000, "took #{ms} ms"
    assert connected?(listen)
    assert nothing_installed?(ctx.dest)

    {out, 1, ms} = build_nif(ctx, [{"CARGO", ctx.fake_cargo} | env])
    assert out =~ "timed out after 2 s"
    assert out =~ "building from source"
    assert File.exists?(ctx.marker)
    assert ms < 8_000, "took #{ms} ms"
  end
end
