defmodule PLPMTUD.ReadmeTest do
  @moduledoc """
  Every Elixir and Erlang code block of the README, CONTRIBUTING.md and
  docs/*.md runs as written, and the README's configuration table says what
  the core's table says.
  """
  use ExUnit.Case, async: false

  @root Path.expand("../..", __DIR__)
  @readme Path.join(@root, "README.md")
  @documents [@readme, Path.join(@root, "CONTRIBUTING.md")] ++
               Path.wildcard(Path.join(@root, "docs/*.md"))

  for document <- @documents do
    @external_resource document
    name = Path.relative_to(document, @root)

    blocks =
      Regex.scan(~r/^```(elixir|erlang)\n(.*?)^```$/ms, File.read!(document),
        capture: :all_but_first
      )

    for {[lang, code], index} <- Enum.with_index(blocks, 1) do
      test "#{name} block #{index} (#{lang}) runs as written" do
        run(unquote(lang), unquote(code), unquote(document))
      end
    end
  end

  test "the README has code blocks to run" do
    blocks = Regex.scan(~r/^```(elixir|erlang)\n/m, File.read!(@readme))
    assert length(blocks) >= 4
  end

  defp run("elixir", code, file), do: Code.eval_string(code, [], file: file)

  defp run("erlang", code, _file) do
    {:ok, tokens, _} = :erl_scan.string(String.to_charlist(code))
    {:ok, exprs} = :erl_parse.parse_exprs(tokens)
    :erl_eval.exprs(exprs, :erl_eval.new_bindings())
  end

  test "the configuration table is the core's: every key, with its default" do
    readme = File.read!(@readme)
    [_, section] = String.split(readme, "\n## Configuration\n", parts: 2)

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
