defmodule Bench.Support do
  @moduledoc false
  # Shared by the benchmark scripts (Code.require_file("support.exs", __DIR__)).

  @doc "CPU time of every thread of this VM, in ns (the first field of each schedstat)."
  def vm_cpu_ns do
    for task <- File.ls!("/proc/self/task"), reduce: 0 do
      acc ->
        case File.read("/proc/self/task/#{task}/schedstat") do
          {:ok, text} -> acc + (text |> String.split() |> hd() |> String.to_integer())
          {:error, _} -> acc
        end
    end
  end
end
