defmodule PLPMTUD.TransferTest do
  use ExUnit.Case, async: false

  @moduletag :netns
  @moduletag timeout: 300_000

  test "the example transport over the lab's paths: plpmtud completes everywhere, fixed 1452 stalls in the black hole" do
    rows = Mix.Tasks.Plpmtud.Transfer.table(2_000_000)

    result = fn variant, sizing ->
      Enum.find_value(rows, fn {v, s, r} -> v == variant and s == sizing and r end)
    end

    for {variant, :plpmtud, r} <- rows do
      assert r.completed and r.checksum_ok, "#{variant}: #{inspect(Map.drop(r, [:prober]))}"
    end

    assert result.("1350, black hole", {:fixed, 1452}).completed == false
    clean = result.("1500 clean", :plpmtud)
    assert clean.payload_at_end == 1452
    assert clean.payload_at_end > result.("1500 clean", {:fixed, 1296}).payload_at_end
    assert clean.probe_share < 0.01
  end
end
