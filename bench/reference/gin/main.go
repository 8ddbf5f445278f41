// Reference: the seed's own stack, Go + Gin, serving the detail read the way the seed design
// describes it (and bench/reference/detail.py does in Python): the video row from PostgreSQL
// and its engagement from Redis, fetched concurrently and merged, no cache, no middleware but
// Gin's panic recovery, no request log. Same tables and keys as HALO, HALO's response body
// (the video object of GET /api/v1/videos/{id}, anonymous caller: adult content is a 404).
//
// Built offline by bench/run.py against Debian's packages (GOPATH mode, /usr/share/gocode):
// golang-go, golang-github-gin-gonic-gin-dev, golang-github-lib-pq-dev,
// golang-github-gomodule-redigo-dev. Environment: PORT, DATABASE_URL, REDIS_URL, and
// GOMAXPROCS for the worker count (the Go runtime reads it).
package main

import (
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gomodule/redigo/redis"
	_ "github.com/lib/pq"
)

const query = `SELECT id, user_id, title, description, thumbnail_url, stream_url, is_live,
	is_adult_content, comments_policy, view_count, like_count, comment_count, created_at, updated_at
	FROM videos WHERE id = $1`

// As the Python floor's pool (20), but one pool for the whole process whatever GOMAXPROCS is;
// idle connections go back after a few seconds, so while the benchmark measures the other
// servers this one holds none of PostgreSQL's 100 connections.
const poolMax = 20

var notFound = []byte(`{"error":"not_found"}`)

const contentType = "application/json; charset=utf-8" // as HALO's

// utcTime is encoded as orjson encodes HALO's times: RFC 3339 in UTC with a Z, microseconds
// only when there are any.
type utcTime time.Time

func (t utcTime) MarshalJSON() ([]byte, error) {
	u := time.Time(t).UTC()
	layout := `"2006-01-02T15:04:05Z"`
	if u.Nanosecond() != 0 {
		layout = `"2006-01-02T15:04:05.000000Z"`
	}
	return []byte(u.Format(layout)), nil
}

type viewerState struct {
	Liked bool `json:"liked"`
}

// video: the fields of HALO's video object, in its order.
type video struct {
	ID             int64        `json:"id"`
	UserID         int64        `json:"user_id"`
	Title          string       `json:"title"`
	Description    *string      `json:"description"`
	ThumbnailURL   *string      `json:"thumbnail_url"`
	StreamURL      *string      `json:"stream_url"`
	IsLive         bool         `json:"is_live"`
	IsAdultContent bool         `json:"is_adult_content"`
	CommentsPolicy string       `json:"comments_policy"`
	ViewCount      int64        `json:"view_count"`
	LikeCount      int64        `json:"like_count"`
	CommentCount   int64        `json:"comment_count"`
	LiveViewers    int64        `json:"live_viewers"`
	Viewer         *viewerState `json:"viewer"` // the caller's own like: null for an anonymous caller
	CreatedAt      utcTime      `json:"created_at"`
	UpdatedAt      utcTime      `json:"updated_at"`
}

type engagement struct {
	likes, comments *int64 // nil: not in Redis, the row's count stands
	pending         int64  // views not yet flushed to PostgreSQL
	live            int64
	err             error
}

type server struct {
	db    *sql.DB
	stmt  *sql.Stmt
	redis *redis.Pool
}

// readEngagement: the same three commands as the Python floor, in one pipeline.
func (s *server) readEngagement(id int64) (e engagement) {
	conn := s.redis.Get()
	defer conn.Close()
	tag := "halo:{v:" + strconv.FormatInt(id, 10) + "}"
	conn.Send("HMGET", tag+":c", "l", "c")
	conn.Send("ZCARD", tag+":p")
	conn.Send("HGET", "halo:{views}:pending", strconv.FormatInt(id, 10))
	if e.err = conn.Flush(); e.err != nil {
		return
	}
	counters, err := redis.Values(conn.Receive())
	if err != nil {
		e.err = err
		return
	}
	if e.live, e.err = redis.Int64(conn.Receive()); e.err != nil {
		return
	}
	pending, err := redis.Int64(conn.Receive())
	if err != nil && err != redis.ErrNil {
		e.err = err
		return
	}
	e.pending = pending
	for i, target := range []**int64{&e.likes, &e.comments} {
		if i < len(counters) && counters[i] != nil {
			value, err := redis.Int64(counters[i], nil)
			if err != nil {
				e.err = err
				return
			}
			*target = &value
		}
	}
	return
}

func (s *server) detail(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		c.Data(http.StatusNotFound, contentType, notFound)
		return
	}
	engaged := make(chan engagement, 1)
	go func() { engaged <- s.readEngagement(id) }()
	var v video
	var created, updated time.Time
	err = s.stmt.QueryRowContext(c.Request.Context(), id).Scan(
		&v.ID, &v.UserID, &v.Title, &v.Description, &v.ThumbnailURL, &v.StreamURL, &v.IsLive,
		&v.IsAdultContent, &v.CommentsPolicy, &v.ViewCount, &v.LikeCount, &v.CommentCount,
		&created, &updated,
	)
	e := <-engaged
	if err == sql.ErrNoRows || (err == nil && v.IsAdultContent) {
		c.Data(http.StatusNotFound, contentType, notFound)
		return
	}
	if err != nil || e.err != nil {
		log.Printf("detail %d: %v %v", id, err, e.err)
		c.Data(http.StatusServiceUnavailable, contentType, []byte(`{"error":"unavailable"}`))
		return
	}
	v.CreatedAt, v.UpdatedAt = utcTime(created), utcTime(updated)
	if e.likes != nil {
		v.LikeCount = *e.likes
	}
	if e.comments != nil {
		v.CommentCount = *e.comments
	}
	v.ViewCount += e.pending
	v.LiveViewers = e.live
	body, err := json.Marshal(&v)
	if err != nil {
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(http.StatusOK, contentType, body)
}

// dataSource: lib/pq asks for TLS unless told otherwise; the benchmark's PostgreSQL is local.
func dataSource(raw string) string {
	parsed, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	values := parsed.Query()
	if values.Get("sslmode") == "" {
		values.Set("sslmode", "disable")
		parsed.RawQuery = values.Encode()
	}
	return parsed.String()
}

func main() {
	db, err := sql.Open("postgres", dataSource(os.Getenv("DATABASE_URL")))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(poolMax)
	db.SetMaxIdleConns(poolMax)
	db.SetConnMaxIdleTime(3 * time.Second)
	stmt, err := db.Prepare(query)
	if err != nil {
		log.Fatal(err)
	}
	redisURL := os.Getenv("REDIS_URL")
	pool := &redis.Pool{
		MaxIdle:     64,
		IdleTimeout: 60 * time.Second,
		Dial:        func() (redis.Conn, error) { return redis.DialURL(redisURL) },
	}
	s := &server{db: db, stmt: stmt, redis: pool}

	gin.SetMode(gin.ReleaseMode)
	router := gin.New() // no Logger: no request log, as HALO's and the floor's benchmark settings
	router.Use(gin.Recovery())
	router.GET("/videos/:id", s.detail)
	httpServer := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: router}
	log.Fatal(httpServer.ListenAndServe())
}
