defmodule PLPMTUD.ErlangPtbLabTest do
  @moduledoc ~S"""
  A rebar3-style consumer without Elixir gets validated Packet-Too-Big
  hints: `test/support/erlang/plpmtud_ptb_consumer.erl`, compiled with
  `erlc` and run in its own `erl -noshell` whose code path holds only
  plpmtud's Erlang modules (laid out as a rebar3 `_build` would: the
  `plpmtud` application's ebin and priv), opens a `plpmtud_socket` with DF
  in the lab's client namespace (links of 1500, 1370 and 1350 bytes, ICMP
  allowed), sends a probe of 1390 IP bytes, receives
  `{plpmtud_ptb, S, #{mtu := 1370, ...}}` from r1 and gives it to the
  prober with `plpmtud:on_ptb/4`, which accepts it.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  @root Path.expand("../..", __DIR__)
  @consumer Path.join(@root, "test/support/erlang/plpmtud_ptb_consumer.erl")

  setup do
    dir = Path.join(System.tmp_dir!(), "erlang_ptb_lab_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  # plpmtud as rebar3 lays it out: its Erlang modules, the .app of
  # src/plpmtud.app.src and priv/ (the NIF); the consumer beside it.
  defp build!(dir) do
    ebin = Path.join(dir, "lib/plpmtud/ebin")
    File.mkdir_p!(ebin)

    for m <- [:plpmtud, :plpmtud_nif, :plpmtud_socket] do
      File.cp!(:code.which(m), Path.join(ebin, "#{m}.beam"))
    end

    File.cp!(Path.join(@root, "src/plpmtud.app.src"), Path.join(ebin, "plpmtud.app"))
    File.ln_s!(Path.join(@root, "priv"), Path.join(dir, "lib/plpmtud/priv"))
    consumer = Path.join(dir, "consumer")
    File.mkdir_p!(consumer)
    {out, 0} = System.cmd("erlc", ["-o", consumer, @consumer], stderr_to_stdout: true)
    assert out == ""
    {ebin, consumer}
  end

  test "an Erlang-only VM receives a PTB as a plpmtud_socket message and the prober accepts it",
       %{dir: dir} do
    {ebin, consumer} = build!(dir)
    ns = Lab.up!("plerl")
    server = Lab.addresses().server4 |> :inet.ntoa() |> to_string()
    call = ~s|plpmtud_ptb_consumer:main([<<"#{ns.client}">>, "#{server}", 9])|

    # No Elixir: the environment's code-path variables are unset, and
    # start_clean boots OTP's own applications only.
    env = for var <- ~w(ERL_LIBS ERL_FLAGS ERL_AFLAGS ERL_ZFLAGS), do: {var, nil}

    {out, status} =
      System.cmd(
        "erl",
        ["-noshell", "-boot", "start_clean", "-pa", ebin, "-pa", consumer, "-eval", call],
        env: env,
        stderr_to_stdout: true
      )

    IO.puts(
      "\n  Erlang-only consumer (exit #{status}):\n    " <> String.replace(out, "\n", "\n    ")
    )

    assert status == 0, out

    report =
      for [k, v] <- Regex.scan(~r/^(\w+)=(.*)$/m, out, capture: :all_but_first),
          into: %{},
          do: {k, v}

    assert report["elixir_kernel"] == "non_existing"
    assert report["elixir_kernel_after"] == "non_existing"
    assert report["elixir_modules_loaded"] == "0"
    assert report["elixir_code_paths"] == "0"
    # plpmtud's modules come from the rebar3-style ebin.
    assert report["socket_module"] == inspect(Path.join(ebin, "plpmtud_socket.beam"))
    # The first probe of a search from 1280 to 1500: 1390 IP bytes, UDP
    # payload 1362; r1's link is 1370.
    assert report["probe_payload"] == "1362"
    assert report["ptb_mtu"] == "1370"
    assert report["ptb_offender"] == ~s("10.71.1.2")
    assert report["quoted_seq"] == "1"
    assert report["verdict"] == "accepted"
    # Next: the reported size, 1370 IP bytes.
    assert report["probe_size_after"] == "1342"
  end
end
