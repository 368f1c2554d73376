// Transactions with the Java kafka-clients jar (3.9.1), run by
// tests/conformance/test_transactions_java.py, which makes every assertion;
// this driver only does what an application does and reports what it saw.
//
//   java Transactions scenario BOOTSTRAP PREFIX
//       topics PREFIX-in and PREFIX-out (3 partitions each); 10 records per
//       input partition; a consumer of group PREFIX-group (subscribed,
//       read_committed) reads them; a producer with transactional.id
//       PREFIX-tx runs three transactions, each sending 4 records to every
//       output partition and sendOffsetsToTransaction for the group:
//       t1 commits (offsets 5), t2 aborts (offsets 8), t3 commits (offsets
//       10). While t1 is open a plain producer appends "plain-0" to
//       partition 0 and the group's offsets, a read_committed and a
//       read_uncommitted reader and both readers' end offsets are recorded.
//       At the end both readers read PREFIX-out from the beginning.
//   java Transactions zombie BOOTSTRAP PREFIX
//       producer A (transactional.id PREFIX-ztx) begins a transaction and
//       sends to the 3 partitions of PREFIX-z; producer B with the same id
//       calls initTransactions; A sends once more and tries to commit; B
//       commits a transaction of its own. Reports A's error and what both
//       readers read.
//
// Prints one JSON object on the last line of stdout; "error" and "stage"
// say where a run stopped.

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Transactions {
    static final long TIMEOUT_MS = 60_000;
    static final int PARTITIONS = 3;
    static final int PER_PARTITION = 4;

    /** The JSON report, built field by field. */
    static final StringBuilder out = new StringBuilder("{");

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: Transactions scenario|zombie BOOTSTRAP PREFIX");
            System.exit(2);
        }
        String mode = args[0], bootstrap = args[1], prefix = args[2];
        String[] stage = {"start"};
        try {
            if (mode.equals("scenario")) scenario(bootstrap, prefix, stage);
            else if (mode.equals("zombie")) zombie(bootstrap, prefix, stage);
            else {
                System.err.println("unknown mode " + mode);
                System.exit(2);
            }
            stage[0] = "done";
        } catch (Throwable e) {
            e.printStackTrace();
            field("error", Report.str(Report.describe(e)));
        }
        field("stage", Report.str(stage[0]));
        out.setCharAt(out.length() - 1, '}');
        System.out.println(out);
        System.out.flush();
        System.exit(0);
    }

    static void scenario(String bootstrap, String prefix, String[] stage) throws Exception {
        String in = prefix + "-in", outTopic = prefix + "-out", group = prefix + "-group";
        stage[0] = "create topics";
        createTopics(bootstrap, in, outTopic);

        stage[0] = "fill input";
        try (KafkaProducer<String, String> plain = new KafkaProducer<>(producerProps(bootstrap, null))) {
            for (int p = 0; p < PARTITIONS; p++)
                for (int i = 0; i < 10; i++)
                    plain.send(new ProducerRecord<>(in, p, null, "in-" + p + "-" + i));
            plain.flush();
        }

        stage[0] = "consume input in the group";
        Properties cp = consumerProps(bootstrap, "read_committed");
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp);
             Admin admin = Admin.create(adminProps(bootstrap));
             KafkaProducer<String, String> producer =
                     new KafkaProducer<>(producerProps(bootstrap, prefix + "-tx"))) {
            consumer.subscribe(List.of(in));
            int read = 0;
            long deadline = System.currentTimeMillis() + TIMEOUT_MS;
            while (read < PARTITIONS * 10 && System.currentTimeMillis() < deadline)
                read += consumer.poll(Duration.ofMillis(200)).count();
            field("input_read", Integer.toString(read));

            stage[0] = "initTransactions";
            producer.initTransactions();

            stage[0] = "t1: send";
            producer.beginTransaction();
            sendAll(producer, outTopic, "t1");
            producer.flush();
            stage[0] = "t1: sendOffsetsToTransaction";
            producer.sendOffsetsToTransaction(offsets(in, 5), consumer.groupMetadata());

            stage[0] = "t1 open: plain record";
            try (KafkaProducer<String, String> plain = new KafkaProducer<>(producerProps(bootstrap, null))) {
                plain.send(new ProducerRecord<>(outTopic, 0, null, "plain-0")).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            }
            stage[0] = "t1 open: observe";
            field("open_group_offsets", groupOffsets(admin, group, in));
            field("open_end_committed", endOffsets(bootstrap, outTopic, "read_committed"));
            field("open_end_uncommitted", endOffsets(bootstrap, outTopic, "read_uncommitted"));
            field("open_read_committed", read(bootstrap, outTopic, "read_committed", 3000));
            field("open_read_uncommitted", read(bootstrap, outTopic, "read_uncommitted", 3000));

            stage[0] = "t1: commitTransaction";
            producer.commitTransaction();
            field("t1_group_offsets", groupOffsets(admin, group, in));

            stage[0] = "t2: send";
            producer.beginTransaction();
            sendAll(producer, outTopic, "t2");
            producer.sendOffsetsToTransaction(offsets(in, 8), consumer.groupMetadata());
            producer.flush();
            stage[0] = "t2: abortTransaction";
            producer.abortTransaction();
            field("t2_group_offsets", groupOffsets(admin, group, in));

            stage[0] = "t3: send";
            producer.beginTransaction();
            sendAll(producer, outTopic, "t3");
            producer.sendOffsetsToTransaction(offsets(in, 10), consumer.groupMetadata());
            stage[0] = "t3: commitTransaction";
            producer.commitTransaction();
            field("t3_group_offsets", groupOffsets(admin, group, in));
        }

        stage[0] = "read output";
        field("end_committed", endOffsets(bootstrap, outTopic, "read_committed"));
        field("end_uncommitted", endOffsets(bootstrap, outTopic, "read_uncommitted"));
        field("read_committed", read(bootstrap, outTopic, "read_committed", 0));
        field("read_uncommitted", read(bootstrap, outTopic, "read_uncommitted", 0));
    }

    static void zombie(String bootstrap, String prefix, String[] stage) throws Exception {
        String topic = prefix + "-z", txId = prefix + "-ztx";
        stage[0] = "create topics";
        createTopics(bootstrap, topic);
        KafkaProducer<String, String> a = new KafkaProducer<>(producerProps(bootstrap, txId));
        try (KafkaProducer<String, String> b = new KafkaProducer<>(producerProps(bootstrap, txId))) {
            stage[0] = "A: initTransactions and send";
            a.initTransactions();
            a.beginTransaction();
            sendAll(a, topic, "zA");
            a.flush();

            stage[0] = "B: initTransactions";
            b.initTransactions();

            stage[0] = "A: send and commit after B's init";
            String error = "none";
            try {
                a.send(new ProducerRecord<>(topic, 0, null, "zA-late"));
                a.commitTransaction();
            } catch (Exception e) {
                error = Report.describe(e);
            }
            field("zombie_commit_error", Report.str(error));

            stage[0] = "B: transaction";
            b.beginTransaction();
            sendAll(b, topic, "zB");
            b.commitTransaction();
        } finally {
            // A fenced producer can only be closed.
            a.close(Duration.ofSeconds(5));
        }
        stage[0] = "read";
        field("read_committed", read(bootstrap, topic, "read_committed", 0));
        field("read_uncommitted", read(bootstrap, topic, "read_uncommitted", 0));
    }

    static void createTopics(String bootstrap, String... names) throws Exception {
        try (Admin admin = Admin.create(adminProps(bootstrap))) {
            List<NewTopic> topics = new ArrayList<>();
            for (String n : names) topics.add(new NewTopic(n, PARTITIONS, (short) 1));
            admin.createTopics(topics).all().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        }
    }

    /** PER_PARTITION records NAME-p-i to each partition, in order. */
    static void sendAll(KafkaProducer<String, String> producer, String topic, String name) {
        for (int i = 0; i < PER_PARTITION; i++)
            for (int p = 0; p < PARTITIONS; p++)
                producer.send(new ProducerRecord<>(topic, p, null, name + "-" + p + "-" + i));
    }

    static Map<TopicPartition, OffsetAndMetadata> offsets(String topic, long offset) {
        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) m.put(new TopicPartition(topic, p), new OffsetAndMetadata(offset));
        return m;
    }

    /** {"p": offset} of the group's committed offsets of `topic` (absent: none). */
    static String groupOffsets(Admin admin, String group, String topic) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        StringBuilder b = new StringBuilder("{");
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            if (!e.getKey().topic().equals(topic) || e.getValue() == null) continue;
            if (b.length() > 1) b.append(',');
            b.append('"').append(e.getKey().partition()).append("\":").append(e.getValue().offset());
        }
        return b.append('}').toString();
    }

    /** {"p": end offset} as a consumer of the given isolation level sees it (ListOffsets). */
    static String endOffsets(String bootstrap, String topic, String isolation) {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(bootstrap, isolation))) {
            Map<TopicPartition, Long> end = c.endOffsets(partitions(topic), Duration.ofMillis(TIMEOUT_MS));
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
                if (b.length() > 1) b.append(',');
                b.append('"').append(e.getKey().partition()).append("\":").append(e.getValue());
            }
            return b.append('}').toString();
        }
    }

    /**
     * [[partition, offset, value], ...] from the beginning: until the
     * position of every partition reaches its end offset for this isolation
     * level, and for at least `minMs` (so that records that should stay
     * invisible get their chance to show up).
     */
    static String read(String bootstrap, String topic, String isolation, long minMs) {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(bootstrap, isolation))) {
            List<TopicPartition> tps = partitions(topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofMillis(TIMEOUT_MS));
            long start = System.currentTimeMillis();
            List<String> recs = new ArrayList<>();
            while (System.currentTimeMillis() - start < TIMEOUT_MS) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200)))
                    recs.add("[" + r.partition() + "," + r.offset() + "," + Report.str(r.value()) + "]");
                boolean atEnd = true;
                for (TopicPartition tp : tps)
                    if (c.position(tp) < end.get(tp)) atEnd = false;
                if (atEnd && System.currentTimeMillis() - start >= minMs) break;
            }
            return "[" + String.join(",", recs) + "]";
        }
    }

    static List<TopicPartition> partitions(String topic) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) tps.add(new TopicPartition(topic, p));
        return tps;
    }

    static Properties adminProps(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return p;
    }

    static Properties producerProps(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        if (transactionalId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(TIMEOUT_MS));
        return p;
    }

    static Properties consumerProps(String bootstrap, String isolation) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        return p;
    }

    static void field(String name, String json) {
        out.append('"').append(name).append("\":").append(json).append(',');
    }

    private Transactions() {}
}
