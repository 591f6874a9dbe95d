defmodule PLPMTUD.Application do
  @moduledoc """
  The `:plpmtud` application supervisor.

  It starts no children yet.
  """
  use Application

  @impl Application
  def start(_type, _args) do
    children = []

    Supervisor.start_link(children, strategy: :one_for_one, name: PLPMTUD.Supervisor)
  end
end
