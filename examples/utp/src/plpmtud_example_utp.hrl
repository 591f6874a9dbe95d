%%% The wire format shared by the example transport's sender
%%% (plpmtud_example_utp) and receiver (plpmtud_example_utp_receiver).

%% Packet types (uTP's type and version byte).
-define(DATA, 16#01).
-define(STATE, 16#21).
%% Extension types.
-define(EXT_NONE, 0).
-define(EXT_SACK, 1).
-define(EXT_PADDING, 3).
-define(EXT_FRAGMENT, 4).
