// dram_model: simulation-only AXI4 memory with exactly the timing of accel/dram_channel.py.
//
// Verilog-2005 for Icarus Verilog and Verilator; not synthesizable. Images are loaded and dumped
// through files (backdoor), so nothing outside the simulator runs per cycle.
//
// Parameters
//   DATA_BYTES      W, bytes per beat: 4, 8, 16 or 32 (AxSIZE must be log2(W)).
//   ADDR_BITS       AxADDR width (default 32).
//   DEPTH_WORDS     memory size in W-byte words; bytes at or beyond DEPTH_WORDS * W answer DECERR.
//   ID_BITS         AxID / xID width (default 1); R and B echo the request's ID.
//   QUEUE_DEPTH     requests the in-order queue holds (default 64; at least 2, so a burst held back
//                   by a full queue is accepted while the queue is still non-empty: the busy period
//                   continues and the timing is that of an unbounded queue fed in acceptance order).
//   RESPONSE_DEPTH  R beats (and B responses) held until the manager takes them (default 4096;
//                   +dram_latency may be at most RESPONSE_DEPTH - 2).
//
// Ports
//   clk, rst        one clock; rst synchronous, active high (assert it for a cycle before use).
//   s_axi_*         AXI4 subordinate: AW (awid awaddr awlen awsize awburst awvalid awready),
//                   W (wdata wstrb wlast wvalid wready), B (bid bresp bvalid bready),
//                   AR (arid araddr arlen arsize arburst arvalid arready),
//                   R (rid rdata rresp rlast rvalid rready).
//   dump            a cycle with dump high writes the memory, as it is in that cycle, to the
//                   +dram_dump file with $writememh.
//   cycle           cycles since reset (the cycle number c below, relative to reset).
//   beats_moved     beats the channel has moved (reads and writes).
//   requests_served bursts that have left the queue (all their beats moved).
//
// Plusargs (read at time 0)
//   +dram_image=FILE        $readmemh image, one W-byte word per line, byte 0 in the low bits
//                           (absent: zeros).
//   +dram_dump=FILE         file the dump input writes.
//   +dram_bandwidth=REAL    b, bytes per cycle, > 0 (absent: W).
//   +dram_latency=INT       L, cycles, >= 0 (default 0).
//   +dram_backpressure=REAL probability 0..1 (default 0) with which each of ARREADY, AWREADY,
//                           WREADY, RVALID and BVALID is withheld in a cycle (drawn separately
//                           from a seeded xorshift64 generator; a VALID already shown stays up).
//   +dram_seed=INT          seed of that generator (default 1).
//   +dram_slverr_lo=HEX, +dram_slverr_hi=HEX
//                           beats overlapping bytes [lo, hi) answer SLVERR (reads return 0,
//                           writes are dropped). Beats at or beyond DEPTH_WORDS * W answer
//                           DECERR likewise; a write burst's BRESP is the worst of its beats.
//
// Timing (cycle c is the interval after rising edge c)
//   Requests join one in-order queue: AR and AW are ready while the queue has room; a request
//   whose handshake is at edge e is pending from cycle e (AR before AW at the same edge). The
//   head is served; a busy period lasts while the queue is non-empty, and a request that
//   arrives at an empty queue starts a period in cycle P = e. With k beats moved before in the
//   period, the head's next beat may move in the first cycle c after the previous move with
//       c - P + 1 >= k + 1   and   $itor(c - P + 1) * b >= $itor((k + 1) * W)
//   (IEEE doubles, as accel.dram_channel.beat_deadline). A read beat moves in such a cycle and
//   is presented on R from cycle c + 1 + L, in order. For a write head WREADY is high in such a
//   cycle and the beat moves when WVALID is also high (handshake at edge c + 1); the burst's B
//   response is presented from cycle c_last + 1 + L. The head leaves after its last beat moves.
//   A write at the head waits for its W data, so a manager must not make W data depend on a
//   read it issues after the AW.
//   Backpressure only delays moves. Protocol errors (AxBURST not INCR, AxSIZE not log2(W), a
//   burst crossing 4 KiB, WLAST not on the burst's last beat, a response FIFO overflow) print
//   "dram_model: ERROR ..." and stop the simulation with $fatal.
module dram_model #(
    parameter DATA_BYTES = 16,
    parameter ADDR_BITS = 32,
    parameter DEPTH_WORDS = 65536,
    parameter ID_BITS = 1,
    parameter QUEUE_DEPTH = 64,
    parameter RESPONSE_DEPTH = 4096
) (
    input clk,
    input rst,
    input [ID_BITS-1:0] s_axi_awid,
    input [ADDR_BITS-1:0] s_axi_awaddr,
    input [7:0] s_axi_awlen,
    input [2:0] s_axi_awsize,
    input [1:0] s_axi_awburst,
    input s_axi_awvalid,
    output s_axi_awready,
    input [8*DATA_BYTES-1:0] s_axi_wdata,
    input [DATA_BYTES-1:0] s_axi_wstrb,
    input s_axi_wlast,
    input s_axi_wvalid,
    output s_axi_wready,
    output [ID_BITS-1:0] s_axi_bid,
    output [1:0] s_axi_bresp,
    output s_axi_bvalid,
    input s_axi_bready,
    input [ID_BITS-1:0] s_axi_arid,
    input [ADDR_BITS-1:0] s_axi_araddr,
    input [7:0] s_axi_arlen,
    input [2:0] s_axi_arsize,
    input [1:0] s_axi_arburst,
    input s_axi_arvalid,
    output s_axi_arready,
    output [ID_BITS-1:0] s_axi_rid,
    output [8*DATA_BYTES-1:0] s_axi_rdata,
    output [1:0] s_axi_rresp,
    output s_axi_rlast,
    output s_axi_rvalid,
    input s_axi_rready,
    input dump,
    output reg [63:0] cycle,
    output reg [63:0] beats_moved,
    output reg [63:0] requests_served
);
    localparam DATA_BITS = 8 * DATA_BYTES;
    localparam SIZE = DATA_BYTES == 4 ? 2 : DATA_BYTES == 8 ? 3 : DATA_BYTES == 16 ? 4 : 5;
    localparam PAGE_BYTES = 4096;  // a burst may not cross this boundary (AXI A3.4.1)
    localparam [1:0] OKAY = 2'b00, SLVERR = 2'b10, DECERR = 2'b11, INCR = 2'b01;

    // ---- settings (plusargs) ----
    real bandwidth;          // b, bytes per cycle
    real backpressure;       // probability of withholding a handshake signal in a cycle
    reg [63:0] latency;      // L, cycles
    reg [63:0] hold_threshold;  // a 32-bit draw below this withholds (backpressure * 2^32)
    reg [63:0] seed_state;
    reg [63:0] slverr_lo, slverr_hi;
    reg [8*1024-1:0] image_file, dump_file;
    reg has_dump;

    reg [DATA_BITS-1:0] mem [0:DEPTH_WORDS-1];

    integer word, latency_arg, seed_arg;
    initial begin
        if (DATA_BYTES != 4 && DATA_BYTES != 8 && DATA_BYTES != 16 && DATA_BYTES != 32)
            $fatal(1, "dram_model: ERROR DATA_BYTES must be 4, 8, 16 or 32, not %0d", DATA_BYTES);
        if (QUEUE_DEPTH < 2)
            $fatal(1, "dram_model: ERROR QUEUE_DEPTH must be at least 2, not %0d", QUEUE_DEPTH);
        if (!$value$plusargs("dram_bandwidth=%f", bandwidth)) bandwidth = DATA_BYTES;
        if (!$value$plusargs("dram_latency=%d", latency_arg)) latency_arg = 0;
        if (!$value$plusargs("dram_backpressure=%f", backpressure)) backpressure = 0.0;
        if (!$value$plusargs("dram_seed=%d", seed_arg)) seed_arg = 1;
        if (!$value$plusargs("dram_slverr_lo=%h", slverr_lo)) slverr_lo = 0;
        if (!$value$plusargs("dram_slverr_hi=%h", slverr_hi)) slverr_hi = 0;
        has_dump = $value$plusargs("dram_dump=%s", dump_file);
        if (!(bandwidth > 0.0))
            $fatal(1, "dram_model: ERROR +dram_bandwidth must be > 0 bytes/cycle, not %g", bandwidth);
        if (latency_arg < 0 || latency_arg + 2 > RESPONSE_DEPTH)
            $fatal(1, "dram_model: ERROR +dram_latency must be 0..%0d cycles (RESPONSE_DEPTH - 2), not %0d",
                   RESPONSE_DEPTH - 2, latency_arg);
        if (!(backpressure >= 0.0 && backpressure <= 1.0))
            $fatal(1, "dram_model: ERROR +dram_backpressure must be a probability 0..1, not %g", backpressure);
        latency = {32'b0, latency_arg};
        // verilator lint_off REALCVT
        hold_threshold = backpressure * 4294967296.0;  // rounds to the nearest integer
        // verilator lint_on REALCVT
        seed_state = ({32'b0, seed_arg} + 64'd1) * 64'h9E3779B97F4A7C15;
        if (seed_state == 0) seed_state = 64'h9E3779B97F4A7C15;
        for (word = 0; word < DEPTH_WORDS; word = word + 1) mem[word] = {DATA_BITS{1'b0}};
        if ($value$plusargs("dram_image=%s", image_file)) $readmemh(image_file, mem);
        $display("dram_model: W=%0d bytes, %0d words, bandwidth %.17g bytes/cycle, latency %0d cycles, backpressure %g",
                 DATA_BYTES, DEPTH_WORDS, bandwidth, latency_arg, backpressure);
    end

    // ---- backpressure draws: five 32-bit draws per cycle from one xorshift64 state ----
    function [63:0] xorshift64;
        input [63:0] x;
        reg [63:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 7);
            xorshift64 = y ^ (y << 17);
        end
    endfunction

    reg [63:0] rng;
    wire [63:0] draw_ar = xorshift64(rng), draw_aw = xorshift64(draw_ar), draw_w = xorshift64(draw_aw);
    wire [63:0] draw_r = xorshift64(draw_w), draw_b = xorshift64(draw_r);
    wire hold_ar = {32'b0, draw_ar[63:32]} < hold_threshold;
    wire hold_aw = {32'b0, draw_aw[63:32]} < hold_threshold;
    wire hold_w = {32'b0, draw_w[63:32]} < hold_threshold;
    wire hold_r = {32'b0, draw_r[63:32]} < hold_threshold;
    wire hold_b = {32'b0, draw_b[63:32]} < hold_threshold;

    // ---- request queue ----
    reg q_write [0:QUEUE_DEPTH-1];
    reg [ID_BITS-1:0] q_id [0:QUEUE_DEPTH-1];
    reg [ADDR_BITS-1:0] q_word [0:QUEUE_DEPTH-1];  // first beat's word address
    reg [7:0] q_len [0:QUEUE_DEPTH-1];             // beats - 1
    reg [31:0] q_head, q_tail, q_count;
    reg [8:0] h_beat;      // beats of the head request already moved
    reg [1:0] h_resp;      // worst response of the head write's beats so far

    wire ar_go = s_axi_arvalid && s_axi_arready;
    wire aw_go = s_axi_awvalid && s_axi_awready;
    assign s_axi_arready = q_count < QUEUE_DEPTH && !hold_ar;
    assign s_axi_awready = q_count + ar_go < QUEUE_DEPTH && !hold_aw;

    // ---- channel timing: elapsed = c - P + 1 in cycle c, moved = beats moved in the period ----
    reg [63:0] elapsed, moved;
    wire [63:0] next_k1 = moved + 1;  // k + 1
    wire [63:0] next_bytes = next_k1 * DATA_BYTES;
    wire credit = q_count != 0 && elapsed >= next_k1 && elapsed * bandwidth >= next_bytes;

    wire h_write = q_write[q_head];
    wire h_last = h_beat == {1'b0, q_len[q_head]};
    wire [63:0] beat_word = q_word[q_head] + h_beat;
    wire [63:0] beat_byte = beat_word << SIZE;
    wire [1:0] beat_resp = beat_word >= DEPTH_WORDS ? DECERR
                         : beat_byte < slverr_hi && beat_byte + DATA_BYTES > slverr_lo ? SLVERR : OKAY;
    wire [DATA_BITS-1:0] beat_data = beat_resp == OKAY ? mem[beat_word] : {DATA_BITS{1'b0}};
    wire [1:0] burst_resp = beat_resp > h_resp ? beat_resp : h_resp;

    assign s_axi_wready = credit && h_write && !hold_w;
    wire read_move = credit && !h_write;
    wire write_move = s_axi_wready && s_axi_wvalid;
    wire move = read_move || write_move;

    reg [DATA_BITS-1:0] strobe_mask;
    integer lane;
    always @* for (lane = 0; lane < DATA_BYTES; lane = lane + 1) strobe_mask[8*lane +: 8] = {8{s_axi_wstrb[lane]}};

    // ---- response FIFOs: an entry is presented from cycle `stamp` on ----
    reg [DATA_BITS-1:0] r_data [0:RESPONSE_DEPTH-1];
    reg [1:0] r_resp [0:RESPONSE_DEPTH-1];
    reg r_last [0:RESPONSE_DEPTH-1];
    reg [ID_BITS-1:0] r_id [0:RESPONSE_DEPTH-1];
    reg [63:0] r_stamp [0:RESPONSE_DEPTH-1];
    reg [31:0] r_head, r_tail, r_count;
    reg r_shown;  // RVALID was high and not taken: it stays high

    reg [1:0] b_resp [0:RESPONSE_DEPTH-1];
    reg [ID_BITS-1:0] b_id [0:RESPONSE_DEPTH-1];
    reg [63:0] b_stamp [0:RESPONSE_DEPTH-1];
    reg [31:0] b_head, b_tail, b_count;
    reg b_shown;

    integer slot;
    initial for (slot = 0; slot < RESPONSE_DEPTH; slot = slot + 1) begin  // R and B payloads are 0, not X, while idle
        r_data[slot] = {DATA_BITS{1'b0}};
        r_resp[slot] = OKAY;
        r_last[slot] = 1'b0;
        r_id[slot] = {ID_BITS{1'b0}};
        b_resp[slot] = OKAY;
        b_id[slot] = {ID_BITS{1'b0}};
    end

    assign s_axi_rvalid = r_count != 0 && r_stamp[r_head] <= cycle && (r_shown || !hold_r);
    assign s_axi_rdata = r_data[r_head];
    assign s_axi_rresp = r_resp[r_head];
    assign s_axi_rlast = r_last[r_head];
    assign s_axi_rid = r_id[r_head];
    assign s_axi_bvalid = b_count != 0 && b_stamp[b_head] <= cycle && (b_shown || !hold_b);
    assign s_axi_bresp = b_resp[b_head];
    assign s_axi_bid = b_id[b_head];
    wire r_pop = s_axi_rvalid && s_axi_rready;
    wire b_pop = s_axi_bvalid && s_axi_bready;
    wire b_push = write_move && h_last;

    task check_request;
        input [8*2-1:0] channel;
        input [ADDR_BITS-1:0] addr;
        input [7:0] len;
        input [2:0] size;
        input [1:0] burst;
        reg [63:0] page_offset;
        begin
            page_offset = (addr % PAGE_BYTES) - (addr % DATA_BYTES);
            if (burst != INCR)
                fail_request(channel, addr, len, "AxBURST is not INCR (2'b01)");
            if (size != SIZE)
                fail_request(channel, addr, len, "AxSIZE is not log2(DATA_BYTES)");
            if (page_offset + (len + 64'd1) * DATA_BYTES > PAGE_BYTES)
                fail_request(channel, addr, len, "the burst crosses a 4 KiB boundary");
        end
    endtask

    task fail_request;
        input [8*2-1:0] channel;
        input [ADDR_BITS-1:0] addr;
        input [7:0] len;
        input [8*40-1:0] reason;
        begin
            $display("dram_model: ERROR %0s burst at address 0x%0h, %0d beats: %0s", channel, addr, len + 1, reason);
            $fatal(1, "dram_model: protocol error");
        end
    endtask

    always @(posedge clk) begin
        if (dump) begin
            if (!has_dump) begin
                $display("dram_model: ERROR dump requested but no +dram_dump=FILE given");
                $fatal(1, "dram_model: no dump file");
            end
            $writememh(dump_file, mem);
        end
        if (rst) begin
            cycle <= 0;
            beats_moved <= 0;
            requests_served <= 0;
            rng <= seed_state;
            q_head <= 0;
            q_tail <= 0;
            q_count <= 0;
            h_beat <= 0;
            h_resp <= OKAY;
            elapsed <= 1;
            moved <= 0;
            r_head <= 0;
            r_tail <= 0;
            r_count <= 0;
            r_shown <= 0;
            b_head <= 0;
            b_tail <= 0;
            b_count <= 0;
            b_shown <= 0;
        end else begin
            cycle <= cycle + 1;
            if (hold_threshold != 0) rng <= draw_b;  // no draws to make without backpressure
            // Queue: reads first when AR and AW handshake together.
            if (ar_go) begin
                check_request("AR", s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst);
                q_write[q_tail] <= 1'b0;
                q_id[q_tail] <= s_axi_arid;
                q_word[q_tail] <= s_axi_araddr >> SIZE;
                q_len[q_tail] <= s_axi_arlen;
            end
            if (aw_go) begin
                check_request("AW", s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst);
                q_write[(q_tail + ar_go) % QUEUE_DEPTH] <= 1'b1;
                q_id[(q_tail + ar_go) % QUEUE_DEPTH] <= s_axi_awid;
                q_word[(q_tail + ar_go) % QUEUE_DEPTH] <= s_axi_awaddr >> SIZE;
                q_len[(q_tail + ar_go) % QUEUE_DEPTH] <= s_axi_awlen;
            end
            q_tail <= (q_tail + ar_go + aw_go) % QUEUE_DEPTH;
            q_count <= q_count + ar_go + aw_go - (move && h_last);
            // Busy period: continues while the queue is non-empty, else starts at the next arrival.
            if (q_count != 0) begin
                elapsed <= elapsed + 1;
                moved <= moved + move;
            end else begin
                elapsed <= 1;
                moved <= 0;
            end
            // The head's beat.
            if (move) begin
                beats_moved <= beats_moved + 1;
                if (h_last) begin
                    q_head <= (q_head + 1) % QUEUE_DEPTH;
                    requests_served <= requests_served + 1;
                    h_beat <= 0;
                    h_resp <= OKAY;
                end else begin
                    h_beat <= h_beat + 1;
                    h_resp <= burst_resp;
                end
            end
            if (write_move) begin
                if (s_axi_wlast != h_last) begin
                    $display("dram_model: ERROR WLAST is %0d on beat %0d of a %0d-beat write burst",
                             s_axi_wlast, h_beat + 1, q_len[q_head] + 1);
                    $fatal(1, "dram_model: protocol error");
                end
                if (beat_resp == OKAY)
                    mem[beat_word] <= (mem[beat_word] & ~strobe_mask) | (s_axi_wdata & strobe_mask);
            end
            // R FIFO
            if (read_move) begin
                if (r_count - r_pop == RESPONSE_DEPTH) begin
                    $display("dram_model: ERROR R FIFO overflow: %0d beats waiting for RREADY", r_count);
                    $fatal(1, "dram_model: R FIFO overflow");
                end
                r_data[r_tail] <= beat_data;
                r_resp[r_tail] <= beat_resp;
                r_last[r_tail] <= h_last;
                r_id[r_tail] <= q_id[q_head];
                r_stamp[r_tail] <= cycle + 1 + latency;
                r_tail <= (r_tail + 1) % RESPONSE_DEPTH;
            end
            if (r_pop) r_head <= (r_head + 1) % RESPONSE_DEPTH;
            r_count <= r_count + read_move - r_pop;
            r_shown <= s_axi_rvalid && !s_axi_rready;
            // B FIFO
            if (b_push) begin
                if (b_count - b_pop == RESPONSE_DEPTH) begin
                    $display("dram_model: ERROR B FIFO overflow: %0d responses waiting for BREADY", b_count);
                    $fatal(1, "dram_model: B FIFO overflow");
                end
                b_resp[b_tail] <= burst_resp;
                b_id[b_tail] <= q_id[q_head];
                b_stamp[b_tail] <= cycle + 1 + latency;
                b_tail <= (b_tail + 1) % RESPONSE_DEPTH;
            end
            if (b_pop) b_head <= (b_head + 1) % RESPONSE_DEPTH;
            b_count <= b_count + b_push - b_pop;
            b_shown <= s_axi_bvalid && !s_axi_bready;
        end
    end
endmodule
