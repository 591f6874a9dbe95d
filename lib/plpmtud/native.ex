defmodule PLPMTUD.Native do
  @moduledoc false
  # Bindings to the Rust NIF library `plpmtud_nif` (native/plpmtud_nif),
  # which Mix.Tasks.Compile.PlpmtudCargo (see mix.exs) copies to
  # priv/native/plpmtud_nif.so. Every function in the stubs section below is
  # replaced by its native implementation when the library loads.

  require Logger

  @on_load :load_nif

  @doc false
  def load_nif do
    # Drop any old version of this module first: the rustler library has no
    # `upgrade` callback, so loading it while old code still holds it fails
    # with {:error, {:upgrade, _}} (e.g. on recompile in IEx).
    :code.purge(__MODULE__)

    path = Path.join(:code.priv_dir(:plpmtud), "native/plpmtud_nif")

    case :erlang.load_nif(String.to_charlist(path), 0) do
      :ok ->
        :ok

      {:error, reason} = error ->
        Logger.error(
          "PLPMTUD.Native: failed to load NIF library #{path}.so: #{inspect(reason)}. " <>
            "Build it with `mix compile` (runs cargo; needs Rust) and check that it exists."
        )

        error
    end
  end

  # ---------------------------------------------------------------------------
  # NIF stubs. Each is replaced by the native implementation on load; keep
  # names and arities in sync with the #[rustler::nif] functions in
  # native/plpmtud_nif/src/lib.rs.
  # ---------------------------------------------------------------------------

  def core_version, do: :erlang.nif_error(:nif_not_loaded)

  # ---------------------------------------------------------------------------
  # End of NIF stubs.
  # ---------------------------------------------------------------------------
end
