package fjord.nexmark;

/**
 * Nexmark events and query outputs as Flink POJOs (public fields, public no-argument constructor),
 * so Flink serializes them with its PojoSerializer (generic types / Kryo are disabled in the job).
 * Jackson reads and writes the public fields in declaration order, so a Bid written back out has
 * the same fields in the same order as the generator's JSON.
 */
public final class Model {
    private Model() {}

    public static class Person {
        public long id;
        public String name;
        public String emailAddress;
        public String creditCard;
        public String city;
        public String state;
        public long dateTime;
        public String extra;

        public Person() {}
    }

    public static class Auction {
        public long id;
        public String itemName;
        public String description;
        public long initialBid;
        public long reserve;
        public long dateTime;
        public long expires;
        public long seller;
        public long category;
        public String extra;

        public Auction() {}
    }

    public static class Bid {
        public long auction;
        public long bidder;
        public long price;
        public String channel;
        public String url;
        public long dateTime;
        public String extra;

        public Bid() {}
    }

    /** q1: the bid with its price converted to euros. */
    public static class Q1Out {
        public long auction;
        public long bidder;
        public double price;
        public long dateTime;

        public Q1Out() {}
    }

    /** q2: auction and price of the selected bids. */
    public static class Q2Out {
        public long auction;
        public long price;

        public Q2Out() {}
    }

    /** q3: a seller in OR/ID/CA and one of their category-10 auctions. */
    public static class Q3Out {
        public String name;
        public String city;
        public String state;
        public long id;

        public Q3Out() {}
    }

    /** q5: bid count of one auction in one hopping window (also the intermediate record). */
    public static class Q5Out {
        public long auction;
        public long num;
        public long starttime;

        public Q5Out() {}
    }

    /** q7: the highest bid of one tumbling window. */
    public static class Q7Out {
        public long auction;
        public long bidder;
        public long price;
        public long starttime;

        public Q7Out() {}
    }

    /** q8: a person who created an auction in the window they appeared in. */
    public static class Q8Out {
        public long id;
        public String name;
        public long starttime;

        public Q8Out() {}
    }
}
