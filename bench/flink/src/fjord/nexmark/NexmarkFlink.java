package fjord.nexmark;

import fjord.nexmark.Model.Auction;
import fjord.nexmark.Model.Bid;
import fjord.nexmark.Model.Person;
import fjord.nexmark.Model.Q1Out;
import fjord.nexmark.Model.Q2Out;
import fjord.nexmark.Model.Q3Out;
import fjord.nexmark.Model.Q5Out;
import fjord.nexmark.Model.Q7Out;
import fjord.nexmark.Model.Q8Out;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.accumulators.LongMaximum;
import org.apache.flink.api.common.accumulators.LongMinimum;
import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.CoGroupFunction;
import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.common.functions.JoinFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaSinkBuilder;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectReader;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectWriter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.TopicExistsException;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Nexmark q0, q1, q2, q3, q5, q7 and q8 as Flink 2.0 DataStream jobs reading the JSON topics
 * nexmark-person / nexmark-auction / nexmark-bid (from the earliest offsets up to the latest
 * offsets at start, so the job ends when it has read everything) and writing JSON to
 * nexmark-QUERY-flink. Runs in one JVM on a local mini cluster; prints the benchmark figures.
 */
public final class NexmarkFlink {
    static final String ACC_IN = "events_in";
    static final String ACC_OUT = "records_out";
    static final String ACC_FIRST_IN = "first_in_nanos";
    static final String ACC_LAST_IN = "last_in_nanos";
    static final String ACC_LAST_OUT = "last_out_nanos";
    static final String ACC_CHECKPOINTS = "checkpoints_completed";
    static final long WINDOW_MS = 10_000;
    static final long HOP_MS = 2_000;

    // ------------------------------------------------------------------ arguments

    static final class Args {
        String query;
        String bootstrap = "127.0.0.1:9092";
        String guarantee = "at-least-once";
        boolean json = false;
        int parallelism = 2;
        long checkpointMs = 100;
        String outputTopic;
        String topicPrefix = "nexmark-";
        int outputPartitions = 2;
        boolean q8Distinct = false;
        boolean objectReuse = true;

        static Args parse(String[] argv) {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String k = argv[i];
                String v = null;
                int eq = k.indexOf('=');
                if (k.startsWith("--") && eq > 0) {
                    v = k.substring(eq + 1);
                    k = k.substring(0, eq);
                }
                switch (k) {
                    case "--json": a.json = true; break;
                    case "--q8-distinct": a.q8Distinct = true; break;
                    case "--no-object-reuse": a.objectReuse = false; break;
                    case "-h": case "--help": usage(0); break;
                    default:
                        if (v == null) {
                            if (i + 1 >= argv.length) usage(2);
                            v = argv[++i];
                        }
                        switch (k) {
                            case "--query": a.query = v.toLowerCase(Locale.ROOT); break;
                            case "--bootstrap-servers": a.bootstrap = v; break;
                            case "--guarantee": a.guarantee = v; break;
                            case "--parallelism": a.parallelism = Integer.parseInt(v); break;
                            case "--checkpoint-interval-ms": a.checkpointMs = Long.parseLong(v); break;
                            case "--output-topic": a.outputTopic = v; break;
                            case "--topic-prefix": a.topicPrefix = v; break;
                            case "--output-partitions": a.outputPartitions = Integer.parseInt(v); break;
                            default:
                                System.err.println("unknown argument: " + k);
                                usage(2);
                        }
                }
            }
            if (a.query == null) usage(2);
            if (!a.query.startsWith("q")) a.query = "q" + a.query;
            if (!List.of("q0", "q1", "q2", "q3", "q5", "q7", "q8").contains(a.query)) {
                System.err.println("unknown query " + a.query + " (q0 q1 q2 q3 q5 q7 q8)");
                System.exit(2);
            }
            if (!a.guarantee.equals("at-least-once") && !a.guarantee.equals("exactly-once")) {
                System.err.println("--guarantee must be at-least-once or exactly-once");
                System.exit(2);
            }
            if (a.outputTopic == null) a.outputTopic = a.topicPrefix + a.query + "-flink";
            return a;
        }

        static void usage(int code) {
            System.err.println(
                    "usage: NexmarkFlink --query q0|q1|q2|q3|q5|q7|q8 [--bootstrap-servers H:P]\n"
                            + "       [--guarantee at-least-once|exactly-once] [--json] [--parallelism 2]\n"
                            + "       [--checkpoint-interval-ms 100] [--output-topic T] [--topic-prefix nexmark-]\n"
                            + "       [--output-partitions 2] [--q8-distinct] [--no-object-reuse]");
            System.exit(code);
        }
    }

    // ------------------------------------------------------------------ JSON in and out

    /** Parses a record value (JSON) into a POJO; runs in the Kafka source reader. */
    static final class JsonDeserializer<T> implements KafkaRecordDeserializationSchema<T> {
        private final Class<T> clazz;
        private transient ObjectReader reader;

        JsonDeserializer(Class<T> clazz) {
            this.clazz = clazz;
        }

        @Override
        public void open(DeserializationSchema.InitializationContext context) {
            reader = new ObjectMapper()
                    .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                    .readerFor(clazz);
        }

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<T> out) throws java.io.IOException {
            if (record.value() == null) return;
            out.collect(reader.readValue(record.value()));
        }

        @Override
        public TypeInformation<T> getProducedType() {
            return TypeInformation.of(clazz);
        }
    }

    /**
     * Counts the events read (accumulator events_in) and notes when the first and the last arrived
     * (System.nanoTime, comparable within the JVM) and how many checkpoints this subtask saw complete.
     * Chained to the source; passes the records on.
     */
    static final class CountIn<T> extends RichMapFunction<T, T> implements CheckpointListener {
        private transient LongCounter counter;
        private transient LongMinimum first;
        private transient LongMaximum last;
        private transient LongMaximum checkpoints;
        private transient long seen;
        private transient long checkpointsSeen;

        @Override
        public void open(OpenContext ctx) {
            counter = new LongCounter();
            first = new LongMinimum();
            last = new LongMaximum();
            checkpoints = new LongMaximum();
            getRuntimeContext().addAccumulator(ACC_IN, counter);
            getRuntimeContext().addAccumulator(ACC_FIRST_IN, first);
            getRuntimeContext().addAccumulator(ACC_LAST_IN, last);
            getRuntimeContext().addAccumulator(ACC_CHECKPOINTS, checkpoints);
        }

        @Override
        public T map(T value) {
            long now = System.nanoTime();
            if (seen++ == 0) first.add(now);
            last.add(now);
            counter.add(1L);
            return value;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            checkpoints.add(++checkpointsSeen);
        }
    }

    /** Writes an output POJO as JSON and counts it (accumulator records_out); chained to the sink. */
    static final class ToJson<T> extends RichMapFunction<T, String> {
        private transient ObjectWriter writer;
        private transient LongCounter counter;
        private transient LongMaximum last;

        @Override
        public void open(OpenContext ctx) {
            writer = new ObjectMapper().writer();
            counter = new LongCounter();
            last = new LongMaximum();
            getRuntimeContext().addAccumulator(ACC_OUT, counter);
            getRuntimeContext().addAccumulator(ACC_LAST_OUT, last);
        }

        @Override
        public String map(T value) throws Exception {
            last.add(System.nanoTime());
            counter.add(1L);
            return writer.writeValueAsString(value);
        }
    }

    // ------------------------------------------------------------------ job

    public static void main(String[] argv) throws Exception {
        Args a = Args.parse(argv);
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

        Configuration conf = new Configuration();
        conf.set(PipelineOptions.GENERIC_TYPES, false); // every type has a Flink serializer, no Kryo
        conf.set(PipelineOptions.OBJECT_REUSE, a.objectReuse); // no copies between chained operators
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(a.parallelism, conf);
        env.enableCheckpointing(a.checkpointMs, CheckpointingMode.EXACTLY_ONCE);

        ensureTopic(a.bootstrap, a.outputTopic, a.outputPartitions);

        DataStream<String> json;
        switch (a.query) {
            case "q0": json = toJson(q0(a, env)); break;
            case "q1": json = toJson(q1(a, env)); break;
            case "q2": json = toJson(q2(a, env)); break;
            case "q3": json = toJson(q3(a, env)); break;
            case "q5": json = toJson(q5(a, env)); break;
            case "q7": json = toJson(q7(a, env)); break;
            case "q8": json = toJson(q8(a, env)); break;
            default: throw new IllegalStateException(a.query);
        }
        json.sinkTo(sink(a)).name("kafka-sink:" + a.outputTopic);

        CpuSampler sampler = new CpuSampler(os);
        sampler.start();
        long cpuBefore = os.getProcessCpuTime();
        long wallBefore = System.nanoTime();
        JobExecutionResult r = env.execute("nexmark-" + a.query + "-flink");
        long wallNanos = System.nanoTime() - wallBefore;
        long cpuJob = os.getProcessCpuTime() - cpuBefore;
        long cpuTotal = os.getProcessCpuTime();
        sampler.interrupt();
        sampler.join();

        long events = longAcc(r, ACC_IN, 0);
        long outputs = longAcc(r, ACC_OUT, 0);
        long firstIn = longAcc(r, ACC_FIRST_IN, Long.MAX_VALUE);
        long lastIn = longAcc(r, ACC_LAST_IN, Long.MIN_VALUE);
        long lastOut = longAcc(r, ACC_LAST_OUT, Long.MIN_VALUE);
        long checkpoints = longAcc(r, ACC_CHECKPOINTS, 0);
        double netS = r.getNetRuntime(TimeUnit.MILLISECONDS) / 1000.0;
        double wallS = wallNanos / 1e9;
        // first event read .. last event read or last record written, whichever is later
        long lastActive = Math.max(lastIn, lastOut);
        double activeS = events > 0 ? (lastActive - firstIn) / 1e9 : 0;
        // process CPU over the same span, from the samples around its two ends
        double activeCpuS = events > 0 ? (sampler.cpuAtOrAfter(lastActive) - sampler.cpuAtOrBefore(firstIn)) / 1e9 : 0;
        double perMActive = events > 0 ? activeCpuS / (events / 1e6) : 0;
        double cpuS = cpuTotal / 1e9;
        double cpuJobS = cpuJob / 1e9;
        double eps = netS > 0 ? events / netS : 0;
        double activeEps = activeS > 0 ? events / activeS : 0;
        double perM = events > 0 ? cpuS / (events / 1e6) : 0;
        double perMJob = events > 0 ? cpuJobS / (events / 1e6) : 0;

        if (a.json) {
            System.out.println(String.format(Locale.ROOT,
                    "{\"engine\":\"flink\",\"flink_version\":\"%s\",\"query\":\"%s\",\"guarantee\":\"%s\","
                            + "\"parallelism\":%d,\"checkpoint_interval_ms\":%d,\"checkpoints_completed\":%d,"
                            + "\"output_topic\":\"%s\",\"input_events\":%d,\"output_records\":%d,"
                            + "\"net_runtime_s\":%.3f,\"events_per_s\":%.1f,\"execute_wall_s\":%.3f,"
                            + "\"active_s\":%.3f,\"active_events_per_s\":%.1f,\"cpu_s\":%.3f,"
                            + "\"cpu_s_per_million_events\":%.3f,\"job_cpu_s\":%.3f,"
                            + "\"job_cpu_s_per_million_events\":%.3f,\"active_cpu_s\":%.3f,"
                            + "\"active_cpu_s_per_million_events\":%.3f}",
                    org.apache.flink.runtime.util.EnvironmentInformation.getVersion(), a.query, a.guarantee,
                    a.parallelism, a.checkpointMs, checkpoints, a.outputTopic, events, outputs, netS, eps, wallS,
                    activeS, activeEps, cpuS, perM, cpuJobS, perMJob, activeCpuS, perMActive));
        } else {
            System.out.printf(Locale.ROOT, "flink %s nexmark %s (%s sink, parallelism %d, checkpoint every %d ms, %d completed)%n",
                    org.apache.flink.runtime.util.EnvironmentInformation.getVersion(), a.query, a.guarantee,
                    a.parallelism, a.checkpointMs, checkpoints);
            System.out.printf(Locale.ROOT, "  input events        %d%n", events);
            System.out.printf(Locale.ROOT, "  output records      %d  -> %s%n", outputs, a.outputTopic);
            System.out.printf(Locale.ROOT, "  net runtime         %.3f s  (execute() wall %.3f s)%n", netS, wallS);
            System.out.printf(Locale.ROOT, "  events/s            %.0f  (net runtime)%n", eps);
            System.out.printf(Locale.ROOT, "  active              %.3f s, %.0f events/s  (first event read .. last event read or written)%n",
                    activeS, activeEps);
            System.out.printf(Locale.ROOT, "  JVM CPU             %.2f s  (%.2f s per million events)%n", cpuS, perM);
            System.out.printf(Locale.ROOT, "  CPU in execute()    %.2f s  (%.2f s per million events; includes starting the mini cluster)%n", cpuJobS, perMJob);
            System.out.printf(Locale.ROOT, "  CPU while active    %.2f s  (%.2f s per million events)%n", activeCpuS, perMActive);
        }
        System.out.flush();
        System.exit(0); // Flink/Kafka helper threads can outlive the mini cluster for a while
    }

    /** Samples the process CPU time every 10 ms, to read it at moments known only afterwards. */
    static final class CpuSampler extends Thread {
        private final com.sun.management.OperatingSystemMXBean os;
        private final long[] at = new long[1 << 20];
        private final long[] cpu = new long[1 << 20];
        private volatile int n;

        CpuSampler(com.sun.management.OperatingSystemMXBean os) {
            super("cpu-sampler");
            setDaemon(true);
            this.os = os;
        }

        @Override
        public void run() {
            try {
                while (n < at.length) {
                    sample();
                    Thread.sleep(10);
                }
            } catch (InterruptedException e) {
                // done
            }
            if (n < at.length) sample();
        }

        private void sample() {
            int i = n;
            at[i] = System.nanoTime();
            cpu[i] = os.getProcessCpuTime();
            n = i + 1;
        }

        long cpuAtOrBefore(long nanos) {
            long v = n > 0 ? cpu[0] : 0;
            for (int i = 0; i < n && at[i] <= nanos; i++) v = cpu[i];
            return v;
        }

        long cpuAtOrAfter(long nanos) {
            for (int i = 0; i < n; i++) if (at[i] >= nanos) return cpu[i];
            return n > 0 ? cpu[n - 1] : 0;
        }
    }

    static long longAcc(JobExecutionResult r, String name, long dflt) {
        Object v = r.getAccumulatorResult(name);
        return v instanceof Number ? ((Number) v).longValue() : dflt;
    }

    static void ensureTopic(String bootstrap, String topic, int partitions) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            if (admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(topic)) return;
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }
    }

    static <T> DataStream<T> source(Args a, StreamExecutionEnvironment env, String topic, Class<T> clazz,
                                    WatermarkStrategy<T> wm) {
        String suffix = a.query + "-" + System.currentTimeMillis();
        KafkaSource<T> src = KafkaSource.<T>builder()
                .setBootstrapServers(a.bootstrap)
                .setTopics(a.topicPrefix + topic)
                .setGroupId("flink-nexmark-" + suffix)
                .setClientIdPrefix("flink-nexmark-" + topic + "-" + suffix)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setDeserializer(new JsonDeserializer<>(clazz))
                .setProperty("commit.offsets.on.checkpoint", "false")
                .build();
        return env.fromSource(src, wm, "kafka-source:" + a.topicPrefix + topic)
                .map(new CountIn<T>()).returns(TypeInformation.of(clazz)).name("count-in:" + topic);
    }

    static <T> DataStream<String> toJson(DataStream<T> s) {
        return s.map(new ToJson<T>()).returns(Types.STRING).name("to-json");
    }

    static KafkaSink<String> sink(Args a) {
        KafkaSinkBuilder<String> b = KafkaSink.<String>builder()
                .setBootstrapServers(a.bootstrap)
                .setRecordSerializer(KafkaRecordSerializationSchema.builder()
                        .setTopic(a.outputTopic)
                        .setValueSerializationSchema(new SimpleStringSchema())
                        .build());
        if (a.guarantee.equals("exactly-once")) {
            b.setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                    .setTransactionalIdPrefix("flink-nexmark-" + a.query + "-" + System.currentTimeMillis())
                    .setProperty("transaction.timeout.ms", "600000");
        } else {
            b.setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE);
        }
        return b.build();
    }

    /** Event time = dateTime; per-partition watermarks with no out-of-orderness allowed (grace 0). */
    static <T> WatermarkStrategy<T> eventTime(SerializableTimestampAssigner<T> ts) {
        return WatermarkStrategy.<T>forBoundedOutOfOrderness(Duration.ZERO).withTimestampAssigner(ts);
    }

    static DataStream<Bid> bids(Args a, StreamExecutionEnvironment env, boolean eventTime) {
        return source(a, env, "bid", Bid.class,
                eventTime ? eventTime((Bid b, long previous) -> b.dateTime) : WatermarkStrategy.noWatermarks());
    }

    static DataStream<Person> persons(Args a, StreamExecutionEnvironment env, boolean eventTime) {
        return source(a, env, "person", Person.class,
                eventTime ? eventTime((Person p, long previous) -> p.dateTime) : WatermarkStrategy.noWatermarks());
    }

    static DataStream<Auction> auctions(Args a, StreamExecutionEnvironment env, boolean eventTime) {
        return source(a, env, "auction", Auction.class,
                eventTime ? eventTime((Auction x, long previous) -> x.dateTime) : WatermarkStrategy.noWatermarks());
    }

    // ------------------------------------------------------------------ q0: pass-through

    static DataStream<Bid> q0(Args a, StreamExecutionEnvironment env) {
        return bids(a, env, false);
    }

    // ------------------------------------------------------------------ q1: currency conversion

    static DataStream<Q1Out> q1(Args a, StreamExecutionEnvironment env) {
        return bids(a, env, false).map(new MapFunction<Bid, Q1Out>() {
            @Override
            public Q1Out map(Bid b) {
                Q1Out o = new Q1Out();
                o.auction = b.auction;
                o.bidder = b.bidder;
                o.price = b.price * 0.908;
                o.dateTime = b.dateTime;
                return o;
            }
        }).name("q1-project");
    }

    // ------------------------------------------------------------------ q2: selection

    static DataStream<Q2Out> q2(Args a, StreamExecutionEnvironment env) {
        return bids(a, env, false)
                .filter((FilterFunction<Bid>) b -> b.auction % 123 == 0).name("q2-filter")
                .map(new MapFunction<Bid, Q2Out>() {
                    @Override
                    public Q2Out map(Bid b) {
                        Q2Out o = new Q2Out();
                        o.auction = b.auction;
                        o.price = b.price;
                        return o;
                    }
                }).name("q2-project");
    }

    // ------------------------------------------------------------------ q3: local item suggestion

    static DataStream<Q3Out> q3(Args a, StreamExecutionEnvironment env) {
        DataStream<Person> persons = persons(a, env, false)
                .filter((FilterFunction<Person>) p ->
                        "OR".equals(p.state) || "ID".equals(p.state) || "CA".equals(p.state))
                .name("q3-filter-state");
        DataStream<Auction> auctions = auctions(a, env, false)
                .filter((FilterFunction<Auction>) x -> x.category == 10).name("q3-filter-category");
        return persons.connect(auctions)
                .keyBy((KeySelector<Person, Long>) p -> p.id, (KeySelector<Auction, Long>) x -> x.seller)
                .process(new Q3Join()).name("q3-join");
    }

    /** Unbounded inner join person.id = auction.seller; both sides stay in keyed state. */
    static final class Q3Join extends KeyedCoProcessFunction<Long, Person, Auction, Q3Out> {
        private transient ListState<Person> persons;
        private transient ListState<Auction> auctions;

        @Override
        public void open(OpenContext ctx) {
            persons = getRuntimeContext().getListState(new ListStateDescriptor<>("persons", Person.class));
            auctions = getRuntimeContext().getListState(new ListStateDescriptor<>("auctions", Auction.class));
        }

        @Override
        public void processElement1(Person p, Context ctx, Collector<Q3Out> out) throws Exception {
            persons.add(p);
            for (Auction x : auctions.get()) out.collect(joined(p, x));
        }

        @Override
        public void processElement2(Auction x, Context ctx, Collector<Q3Out> out) throws Exception {
            auctions.add(x);
            for (Person p : persons.get()) out.collect(joined(p, x));
        }

        static Q3Out joined(Person p, Auction x) {
            Q3Out o = new Q3Out();
            o.name = p.name;
            o.city = p.city;
            o.state = p.state;
            o.id = x.id;
            return o;
        }
    }

    // ------------------------------------------------------------------ q5: hot items

    static DataStream<Q5Out> q5(Args a, StreamExecutionEnvironment env) {
        DataStream<Q5Out> counts = bids(a, env, true)
                .keyBy((KeySelector<Bid, Long>) b -> b.auction)
                .window(SlidingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS), Duration.ofMillis(HOP_MS)))
                .aggregate(new CountBids(), new WithWindowStart())
                .name("q5-count-per-auction-window");
        return counts
                .keyBy((KeySelector<Q5Out, Long>) c -> c.starttime)
                .process(new RunningMax())
                .name("q5-max-per-window");
    }

    static final class CountBids implements AggregateFunction<Bid, Long, Long> {
        @Override public Long createAccumulator() { return 0L; }
        @Override public Long add(Bid b, Long acc) { return acc + 1; }
        @Override public Long getResult(Long acc) { return acc; }
        @Override public Long merge(Long x, Long y) { return x + y; }
    }

    static final class WithWindowStart extends ProcessWindowFunction<Long, Q5Out, Long, TimeWindow> {
        @Override
        public void process(Long auction, Context ctx, Iterable<Long> counts, Collector<Q5Out> out) {
            Q5Out o = new Q5Out();
            o.auction = auction;
            o.num = counts.iterator().next();
            o.starttime = ctx.window().getStart();
            out.collect(o);
        }
    }

    /**
     * Per window start: emits a (auction, count) when it beats (strictly) the best count seen so far
     * for that window. All counts of one window arrive with timestamp window-end - 1 before the
     * watermark passes it, so a timer at that timestamp drops the window's state afterwards.
     */
    static final class RunningMax extends KeyedProcessFunction<Long, Q5Out, Q5Out> {
        private transient ValueState<Long> best;

        @Override
        public void open(OpenContext ctx) {
            best = getRuntimeContext().getState(new ValueStateDescriptor<>("best", Types.LONG));
        }

        @Override
        public void processElement(Q5Out c, Context ctx, Collector<Q5Out> out) throws Exception {
            Long b = best.value();
            if (b == null) ctx.timerService().registerEventTimeTimer(ctx.timestamp());
            if (b == null || c.num > b) {
                best.update(c.num);
                out.collect(c);
            }
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Q5Out> out) {
            best.clear();
        }
    }

    // ------------------------------------------------------------------ q7: highest bid

    static DataStream<Q7Out> q7(Args a, StreamExecutionEnvironment env) {
        return bids(a, env, true)
                .keyBy((KeySelector<Bid, Integer>) b -> 0) // one global key
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS)))
                .reduce((ReduceFunction<Bid>) (x, y) -> y.price > x.price ? y : x, new HighestWithStart())
                .name("q7-highest-bid");
    }

    static final class HighestWithStart extends ProcessWindowFunction<Bid, Q7Out, Integer, TimeWindow> {
        @Override
        public void process(Integer key, Context ctx, Iterable<Bid> best, Collector<Q7Out> out) {
            Bid b = best.iterator().next();
            Q7Out o = new Q7Out();
            o.auction = b.auction;
            o.bidder = b.bidder;
            o.price = b.price;
            o.starttime = ctx.window().getStart();
            out.collect(o);
        }
    }

    // ------------------------------------------------------------------ q8: monitor new users

    static DataStream<Q8Out> q8(Args a, StreamExecutionEnvironment env) {
        DataStream<Person> persons = persons(a, env, true);
        DataStream<Auction> auctions = auctions(a, env, true);
        if (a.q8Distinct) {
            // One row per person and window (Nexmark's SQL formulation groups the auctions by seller).
            return persons.coGroup(auctions)
                    .where((KeySelector<Person, Long>) p -> p.id)
                    .equalTo((KeySelector<Auction, Long>) x -> x.seller)
                    .window(TumblingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS)))
                    .apply(new CoGroupFunction<Person, Auction, Q8Out>() {
                        @Override
                        public void coGroup(Iterable<Person> ps, Iterable<Auction> xs, Collector<Q8Out> out) {
                            if (!xs.iterator().hasNext()) return;
                            for (Person p : ps) out.collect(q8Row(p));
                        }
                    }, TypeInformation.of(Q8Out.class));
        }
        // Window join: one row per (person, auction) pair of the same window.
        return persons.join(auctions)
                .where((KeySelector<Person, Long>) p -> p.id)
                .equalTo((KeySelector<Auction, Long>) x -> x.seller)
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS)))
                .apply(new JoinFunction<Person, Auction, Q8Out>() {
                    @Override
                    public Q8Out join(Person p, Auction x) {
                        return q8Row(p);
                    }
                }, TypeInformation.of(Q8Out.class));
    }

    static Q8Out q8Row(Person p) {
        Q8Out o = new Q8Out();
        o.id = p.id;
        o.name = p.name;
        o.starttime = p.dateTime - Math.floorMod(p.dateTime, WINDOW_MS); // the person's tumbling window
        return o;
    }
}
