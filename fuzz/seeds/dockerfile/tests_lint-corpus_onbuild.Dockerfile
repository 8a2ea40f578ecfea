FROM ruby:3.3.4-slim
WORKDIR /usr/src/app
ONBUILD COPY Gemfile Gemfile.lock ./
ONBUILD RUN bundle install
ONBUILD COPY . .
RUN echo a
RUN echo b
RUN echo c
USER 1000
CMD ["irb"]
