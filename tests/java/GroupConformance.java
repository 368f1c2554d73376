// One consumer-group member on the Java kafka-clients jar (3.9.1, classic
// group protocol), driven by tests/conformance/test_groups.py. It speaks
// the protocol of tests/conformance/groups_worker.py:
//
//   java GroupConformance BOOTSTRAP TOPIC GROUP [--commit auto|manual]
//        [--reset earliest|latest] [--session-ms N]
//        [--assignor range|roundrobin|cooperative-sticky]
//        [--instance-id ID] [--client-id ID]
//
// stdout: one JSON object per line ("assign", "revoke", "recs",
// "committed", "commit_failed", "gen", "closed"), each with "t" in
// wall-clock ms. stdin: "stop" (or EOF) closes the consumer cleanly.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class GroupConformance {
    static synchronized void emit(String ev, String fields) {
        System.out.println("{\"ev\":\"" + ev + "\",\"t\":" + System.currentTimeMillis()
                + (fields.isEmpty() ? "" : "," + fields) + "}");
        System.out.flush();
    }

    static String parts(Collection<TopicPartition> tps) {
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : tps) ps.add(tp.partition());
        return "\"parts\":" + ps.toString().replace(" ", "");
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ") + "\"";
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: GroupConformance BOOTSTRAP TOPIC GROUP [options]");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1], group = args[2];
        Map<String, String> opt = new HashMap<>();
        for (int i = 3; i + 1 < args.length; i += 2) opt.put(args[i], args[i + 1]);
        boolean manual = opt.getOrDefault("--commit", "manual").equals("manual");
        String assignor = opt.getOrDefault("--assignor", "range");

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, opt.getOrDefault("--client-id", "fjord-groups-java"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, Boolean.toString(!manual));
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, opt.getOrDefault("--reset", "earliest"));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        boolean consumerProtocol = opt.getOrDefault("--protocol", "classic").equals("consumer");
        if (consumerProtocol) {
            // KIP-848: the broker assigns; client-side assignors and session
            // settings are refused by the client in this mode.
            p.put("group.protocol", "consumer");
        } else {
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, switch (assignor) {
                case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
                case "roundrobin" -> RoundRobinAssignor.class.getName();
                default -> RangeAssignor.class.getName();
            });
        }
        String session = opt.getOrDefault("--session-ms", "0");
        if (!session.equals("0") && !consumerProtocol) {
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, session);
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(Integer.parseInt(session) / 6));
        }
        if (opt.containsKey("--instance-id")) {
            p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, opt.get("--instance-id"));
        }

        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
        AtomicBoolean stop = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try {
                java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
                String line;
                while ((line = r.readLine()) != null && !line.trim().equals("stop")) { }
            } catch (java.io.IOException e) {
                // EOF-like: stop
            }
            stop.set(true);
            c.wakeup();
        });
        stdin.setDaemon(true);
        stdin.start();

        int[] gen = {-2};
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                emit("revoke", parts(tps));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> tps) {
                emit("revoke", parts(tps) + ",\"lost\":true");
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                emit("assign", parts(tps) + ",\"gen\":" + c.groupMetadata().generationId()
                        + ",\"member\":" + quote(c.groupMetadata().memberId()));
            }
        });
        try {
            while (!stop.get()) {
                ConsumerRecords<byte[], byte[]> recs;
                try {
                    recs = c.poll(Duration.ofMillis(200));
                } catch (WakeupException e) {
                    break;
                }
                int g = c.groupMetadata().generationId();
                if (g != gen[0]) {
                    gen[0] = g;
                    emit("gen", "\"gen\":" + g);
                }
                if (recs.isEmpty()) continue;
                StringBuilder sb = new StringBuilder("\"recs\":[");
                Map<TopicPartition, OffsetAndMetadata> upto = new HashMap<>();
                boolean first = true;
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    if (!first) sb.append(',');
                    first = false;
                    sb.append('[').append(r.partition()).append(',').append(r.offset()).append(']');
                    upto.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                emit("recs", sb.append(']').toString());
                if (manual) {
                    try {
                        c.commitSync(upto);
                        List<String> kv = new ArrayList<>();
                        upto.forEach((tp, om) -> kv.add("\"" + tp.partition() + "\":" + om.offset()));
                        emit("committed", "\"offsets\":{" + String.join(",", kv) + "}");
                    } catch (WakeupException e) {
                        break;
                    } catch (Exception e) {
                        emit("commit_failed", "\"error\":" + quote(e.toString()));
                    }
                }
            }
        } finally {
            c.close(Duration.ofSeconds(10));
        }
        emit("closed", "");
        System.exit(0);
    }
}
