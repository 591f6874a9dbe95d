defmodule PLPMTUD.ReadmeTest do
  @moduledoc """
  Every Elixir and Erlang code block of the README runs as written, and the
  README's configuration table says what the core's table says.
  """
  use ExUnit.Case, async: false

  @readme Path.expand("../../README.md", __DIR__)
  @external_resource @readme

  blocks =
    Regex.scan(~r/^```(elixir|erlang)\n(.*?)^```$/ms, File.read!(@readme), capture: :all_but_first)

  for {[lang, code], index} <- Enum.with_index(blocks, 1) do
    test "README block #{index} (#{lang}) runs as written" do
      run(unquote(lang), unquote(code))
    end
  end

  test "the README has code blocks to run" do
    assert length(unquote(Macro.escape(blocks))) >= 5
  end

  defp run("elixir", code), do: Code.eval_string(code, [], file: @readme)

  defp run("erlang", code) do
    {:ok, tokens, _} = :erl_scan.string(String.to_charlist(code))
    {:ok, exprs} = :erl_parse.parse_exprs(tokens)
    :erl_eval.exprs(exprs, :erl_eval.new_bindings())
  end

  test "the configuration table is the core's: every key, with its default" do
    readme = File.read!(@readme)
    [_, section] = String.split(readme, "### Configuration", parts: 2)

    rows =
      for [key, default] <-
            Regex.scan(~r/^\| `(\w+)` \| `([^`]+)` \|/m, section, capture: :all_but_first),
          into: %{},
          do: {String.to_atom(key), default}

    core =
      for {key, _expected, default, _range, _doc} <- :plpmtud_nif.config_table_entries(),
          into: %{},
          do: {key, inspect(default)}

    assert rows == core
  end
end
