// Conformance driver for the Java kafka-clients jar (3.9.1), run by
// tests/conformance/test_java.py. The client keeps its defaults
// (enable.idempotence=true, acks=all) except where a mode says otherwise.
//
//   java Conformance seed001 BOOTSTRAP TOPIC_PREFIX COUNT
//       for each codec: AdminClient.createTopics(PREFIX-codec, 2 partitions),
//       produce COUNT keyed records (key-0..key-9), read them back with
//       assign + seekToBeginning (no consumer group)
//   java Conformance produce BOOTSTRAP TOPIC COUNT
//       produce COUNT keyed records with the defaults; report the acks
//
// Prints one JSON object on the last line of stdout.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Conformance {
    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    static final long TIMEOUT_MS = 90_000;

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: Conformance seed001|produce BOOTSTRAP TOPIC COUNT");
            System.exit(2);
        }
        String mode = args[0], bootstrap = args[1], topic = args[2];
        int count = Integer.parseInt(args[3]);
        StringBuilder out = new StringBuilder("{");
        if (mode.equals("seed001")) {
            out.append("\"results\":{");
            for (int c = 0; c < CODECS.length; c++) {
                if (c > 0) out.append(',');
                out.append(Report.str(CODECS[c])).append(':').append(seed001(bootstrap, topic + "-" + CODECS[c], CODECS[c], count));
            }
            out.append('}');
        } else if (mode.equals("produce")) {
            out.append("\"result\":").append(produceOnly(bootstrap, topic, count));
        } else {
            System.err.println("unknown mode " + mode);
            System.exit(2);
        }
        out.append('}');
        System.out.println(out);
        System.out.flush();
        // Client threads are closed, but do not let a stuck one hold the JVM.
        System.exit(0);
    }

    static String seed001(String bootstrap, String topic, String codec, int count) {
        StringBuilder r = new StringBuilder("{");
        String stage = "admin";
        List<long[]> acks = new ArrayList<>();
        List<String> records = new ArrayList<>();
        int partitions = -1;
        try {
            Properties ap = new Properties();
            ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            try (Admin admin = Admin.create(ap)) {
                admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1)))
                        .all().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
                Map<String, TopicDescription> d = admin.describeTopics(List.of(topic))
                        .allTopicNames().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
                partitions = d.get(topic).partitions().size();
            }

            stage = "produce";
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            produce(pp, topic, count, acks);

            stage = "consume";
            consume(bootstrap, topic, partitions, count, records);
            stage = "done";
        } catch (Throwable e) {
            r.append("\"error\":").append(Report.str(Report.describe(e))).append(',');
        }
        r.append("\"stage\":").append(Report.str(stage)).append(',');
        r.append("\"partitions\":").append(partitions).append(',');
        r.append("\"acks\":").append(ackJson(acks)).append(',');
        r.append("\"records\":[").append(String.join(",", records)).append("]}");
        return r.toString();
    }

    static String produceOnly(String bootstrap, String topic, int count) {
        StringBuilder r = new StringBuilder("{");
        List<long[]> acks = new ArrayList<>();
        try {
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            // Small batches, so that the proxy's connection cuts land between
            // many produce requests.
            pp.put(ProducerConfig.BATCH_SIZE_CONFIG, "2048");
            produce(pp, topic, count, acks);
        } catch (Throwable e) {
            r.append("\"error\":").append(Report.str(Report.describe(e))).append(',');
        }
        r.append("\"acks\":").append(ackJson(acks)).append('}');
        return r.toString();
    }

    static void produce(Properties pp, String topic, int count, List<long[]> acks) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                fs.add(producer.send(new ProducerRecord<>(topic, "key-" + (i % 10), "value-" + i)));
            }
            producer.flush();
            for (int i = 0; i < count; i++) {
                RecordMetadata md = fs.get(i).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
                acks.add(new long[] {i, md.partition(), md.offset()});
            }
        }
    }

    static void consume(String bootstrap, String topic, int partitions, int count, List<String> records) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + TIMEOUT_MS;
            // Read until COUNT records, then one more poll to catch duplicates.
            boolean extra = false;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> rec : consumer.poll(Duration.ofMillis(500))) {
                    records.add("[" + rec.partition() + "," + rec.offset() + "," + Report.str(rec.key()) + "," + Report.str(rec.value()) + "]");
                }
                if (records.size() >= count) {
                    if (extra) break;
                    extra = true;
                }
            }
        }
    }

    static String ackJson(List<long[]> acks) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < acks.size(); i++) {
            long[] a = acks.get(i);
            if (i > 0) b.append(',');
            b.append('[').append(a[0]).append(',').append(a[1]).append(',').append(a[2]).append(']');
        }
        return b.append(']').toString();
    }

    private Conformance() {}
}
