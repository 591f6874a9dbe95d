defmodule PLPMTUD.Config do
  # The keys, their kinds, defaults and docs come from the Rust core's one
  # configuration table (`plpmtud_core::config`), read at compile time.
  @table :plpmtud_nif.config_table_entries()

  # "in 68..65535" for integer keys whose table range says something (time
  # values stop at 4294967295 ms, the BEAM's timer limit).
  range_doc = fn
    "a non-negative" <> _, {min, max} when max <= 0xFFFF_FFFF -> " in #{min}..#{max}"
    "a non-negative" <> _, {min, _max} when min > 0 -> ", at least #{min}"
    _expected, _range -> ""
  end

  @moduledoc """
  Prober configuration: the `:plpmtud` application environment merged with
  per-prober options. Sizes are IP MTU bytes, times milliseconds.

  Keys (default in parentheses), from the core's configuration table:

  #{Enum.map_join(@table, "\n", fn {key, expected, default, range, doc} -> "  * `#{inspect(key)}` (`#{inspect(default)}`; #{expected}#{range_doc.(expected, range)}) - #{doc}" end)}

  Unknown keys and values of the wrong kind, out of range or inconsistent
  make `PLPMTUD.new/1` return `{:error, {:invalid_config, key, message}}`
  (`build/1` raises `ArgumentError` for unknown keys). Application environment entries
  under other keys are ignored (they belong to other parts of the
  application).
  """

  @typedoc "A configuration key."
  @type key :: atom()

  @typedoc "Options as a keyword list or a map."
  @type options :: keyword() | %{optional(key()) => term()}

  @doc "Every key a prober accepts."
  @spec keys() :: [key()]
  def keys, do: for({key, _expected, _default, _range, _doc} <- @table, do: key)

  @doc """
  Merges the application environment with `options` into one map (see
  `:plpmtud.config/1`). Raises `ArgumentError` when `options` is neither a
  keyword list nor a map, or names a key that is no configuration key.
  """
  @spec build(options()) :: %{key() => term()}
  def build(options \\ []) do
    case :plpmtud.config(to_map(options)) do
      {:ok, config} -> config
      {:error, {:invalid_config, _key, message}} -> raise ArgumentError, message
    end
  end

  defp to_map(options) when is_map(options), do: options

  defp to_map(options) when is_list(options) do
    if Keyword.keyword?(options), do: Map.new(options), else: not_options(options)
  end

  defp to_map(options), do: not_options(options)

  @spec not_options(term()) :: no_return()
  defp not_options(options) do
    raise ArgumentError,
          "plpmtud options must be a keyword list or a map, got: #{inspect(options)}"
  end
end
