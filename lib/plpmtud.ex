defmodule PLPMTUD do
  @moduledoc """
  Packetization Layer Path MTU Discovery (PLPMTUD) for the BEAM.

  The discovery engine is written in Rust (`native/plpmtud_core`) and exposed
  to Erlang and Elixir through a NIF.
  """

  @doc """
  Returns the version of the Rust engine the NIF was built with, e.g. `"0.1.0"`.
  """
  @spec core_version() :: String.t()
  defdelegate core_version, to: PLPMTUD.Native
end
